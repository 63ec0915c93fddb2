import { decodeMessageData, encodeMessageBody, encodeMessageData } from "@sfn/channel-core/internal";
import { FRAME_MARK, FrameReader, MAX_SENDER_BYTES, TOPIC_FRAME_MARK, senderPrefix } from "./sender-frame.js";

const frame = (prefix: Uint8Array, rest: Uint8Array): Buffer => Buffer.concat([prefix, rest]);

describe("sender frame", () => {
  it("golden bytes: the mark (0xc0 topic subject, 0xc1 inbox), the id's UTF-8 length (big-endian), the id, then the content", () => {
    expect(senderPrefix("ab").toString("hex")).toBe("c100026162");
    expect(senderPrefix("ab", TOPIC_FRAME_MARK).toString("hex")).toBe("c000026162");
    expect(frame(senderPrefix("é"), Buffer.from([1, 2])).toString("hex")).toBe("c10002c3a90102");
    // On a topic subject the payload travels without its topic; an inbox message carries it ("t": a1 74).
    expect(encodeMessageData(Buffer.from([7]), senderPrefix("é", TOPIC_FRAME_MARK)).toString("hex")).toBe("c00002c3a9c40107");
    expect(encodeMessageBody("t", Buffer.from([7]), senderPrefix("é")).toString("hex")).toBe("c10002c3a9a174c40107");
  });

  it("reads back sender and content, for one sender and alternating ones", () => {
    const reader = new FrameReader();
    const body = encodeMessageBody("t", "x");
    for (const id of ["web-1", "web-1", "web-2", "ü-id", "web-1"]) {
      const inbox = frame(senderPrefix(id), body);
      expect(reader.read(inbox, FRAME_MARK)).toBeUndefined();
      expect(reader.from).toBe(id);
      expect(Buffer.from(inbox.subarray(reader.start)).equals(body)).toBe(true);
      const onTopic = encodeMessageData("x", senderPrefix(id, TOPIC_FRAME_MARK));
      expect(reader.read(onTopic, TOPIC_FRAME_MARK)).toBeUndefined();
      expect(reader.from).toBe(id);
      expect(decodeMessageData(onTopic, reader.start)).toBe("x");
    }
  });

  it("does not trust the bytes it remembers: a sender's bytes changed in place after reading still read right", () => {
    const reader = new FrameReader();
    const a = frame(senderPrefix("web-1", TOPIC_FRAME_MARK), Buffer.from([0xc0]));
    expect(reader.read(a, TOPIC_FRAME_MARK)).toBeUndefined();
    a.set(Buffer.from("web-2"), 3); // the client reusing its receive buffer
    expect(reader.read(a, TOPIC_FRAME_MARK)).toBeUndefined();
    expect(reader.from).toBe("web-2");
  });

  it("an old-format body (bare MessagePack) never starts with either mark", () => {
    for (const body of [
      encodeMessageBody("t", "x"),
      encodeMessageBody("t".repeat(40), Buffer.alloc(3)),
      encodeMessageBody("é".repeat(1024), 1),
    ]) {
      expect([FRAME_MARK, TOPIC_FRAME_MARK]).not.toContain(body[0]);
      expect(new FrameReader().read(body, TOPIC_FRAME_MARK)).toMatch(/older/);
      expect(new FrameReader().read(body, FRAME_MARK)).toMatch(/older/);
    }
  });

  it("refuses a message framed for the other kind of subject, saying which", () => {
    const body = encodeMessageBody("t", "x");
    expect(new FrameReader().read(frame(senderPrefix("a"), body), TOPIC_FRAME_MARK)).toMatch(/topic in the body.*older/);
    expect(new FrameReader().read(frame(senderPrefix("a", TOPIC_FRAME_MARK), body), FRAME_MARK)).toMatch(/topic subject, not an inbox/);
  });

  it("refuses cut, empty and oversized frames with a reason, never throws, and forgets no good sender", () => {
    const reader = new FrameReader();
    expect(reader.read(frame(senderPrefix("good", TOPIC_FRAME_MARK), Buffer.from([0xc0])), TOPIC_FRAME_MARK)).toBeUndefined();
    const over = MAX_SENDER_BYTES + 1;
    for (const mark of [FRAME_MARK, TOPIC_FRAME_MARK] as const) {
      for (const bad of [
        [],
        [mark],
        [mark, 0],
        [mark, 0, 0],
        [mark, 0, 5, 0x61],
        [mark, 0x04, 0x01, 0x61],
        [mark, over >> 8, over & 0xff, ...Buffer.alloc(over, 0x61)],
      ]) {
        expect(reader.read(Uint8Array.from(bad), mark)).toEqual(expect.any(String));
      }
    }
    expect(reader.read(frame(senderPrefix("good", TOPIC_FRAME_MARK), Buffer.from([0xc0])), TOPIC_FRAME_MARK)).toBeUndefined();
    expect(reader.from).toBe("good");
    expect(() => senderPrefix("")).toThrow(RangeError);
    expect(() => senderPrefix("x".repeat(MAX_SENDER_BYTES + 1))).toThrow(RangeError);
  });
});
