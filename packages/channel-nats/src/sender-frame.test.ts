import { encodeMessageBody } from "@sfn/channel-core/internal";
import { FRAME_MARK, FrameReader, frame, senderPrefix } from "./sender-frame.js";

describe("sender frame", () => {
  it("golden bytes: 0xc1, the id's UTF-8 length (big-endian), the id, then the body", () => {
    expect(senderPrefix("ab").toString("hex")).toBe("c100026162");
    expect(frame(senderPrefix("é"), Buffer.from([1, 2])).toString("hex")).toBe("c10002c3a90102");
  });

  it("reads back sender and body, for one sender and alternating ones", () => {
    const reader = new FrameReader();
    const body = encodeMessageBody("t", "x");
    for (const id of ["web-1", "web-1", "web-2", "ü-id", "web-1"]) {
      const out = reader.read(frame(senderPrefix(id), body));
      expect(out.from).toBe(id);
      expect(Buffer.from(out.body as Uint8Array).equals(body)).toBe(true);
    }
  });

  it("an old-format body (bare MessagePack) never starts with the mark", () => {
    expect(encodeMessageBody("t", "x")[0]).not.toBe(FRAME_MARK);
    expect(new FrameReader().read(encodeMessageBody("t", "x")).error).toMatch(/older/);
  });

  it("refuses cut, empty and oversized frames with a reason, never throws", () => {
    const reader = new FrameReader();
    for (const bad of [[], [0xc1], [0xc1, 0, 0], [0xc1, 0, 5, 0x61], [0xc1, 0x04, 0x01, 0x61]]) {
      expect(reader.read(Uint8Array.from(bad)).error).toEqual(expect.any(String));
    }
    expect(() => senderPrefix("")).toThrow(RangeError);
  });
});
