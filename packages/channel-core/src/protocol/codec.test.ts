import { ErrorCode, ProtocolError } from "../errors.js";
import { createDecoder, decodeFrames, encodeControl, encodeMessageBody, encodePatternsBody, encodeSequenced, packValue as packValueForTest, toFrame } from "./codec.js";
import { FrameType, PROTOCOL_VERSION } from "./frames.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("frame encoding (golden bytes)", () => {
  it("pins HELLO", () => {
    const bytes = encodeControl({
      type: FrameType.HELLO,
      version: PROTOCOL_VERSION,
      id: "a",
      instance: "i",
      nonce: Buffer.alloc(16),
      maxFrameSize: 1048576,
      auth: false,
    });
    expect(hex(bytes)).toBe("970101a161a169c410" + "00".repeat(16) + "ce00100000c2");
  });

  it("pins ACK, PING, READY, ERROR and BYE", () => {
    expect(hex(encodeControl({ type: FrameType.ACK, seq: 5 }))).toBe("920705");
    expect(hex(encodeControl({ type: FrameType.PING }))).toBe("9108");
    expect(hex(encodeControl({ type: FrameType.READY, session: null, received: 0 }))).toBe("9303c000");
    expect(hex(encodeControl({ type: FrameType.ERROR, code: "E", message: "m" }))).toBe("930aa145a16d");
    expect(hex(encodeControl({ type: FrameType.BYE, reason: "close" }))).toBe("920ba5636c6f7365");
  });

  it("pins MSG: fixed uint32 sequence header, then topic and payload", () => {
    const frame = encodeSequenced(FrameType.MSG, 1, encodeMessageBody("t", "hi"));
    expect(hex(frame)).toBe("9404ce00000001" + "a174" + "a26869");
  });

  it("never writes a sequence number in the fixint range records reinterpret", () => {
    expect(hex(encodeSequenced(FrameType.MSG, 64, encodeMessageBody("t", 1)))).toBe("9404ce00000040a17401");
  });

  it("writes sequence numbers past 2^32 as float64", () => {
    expect(hex(encodeSequenced(FrameType.SUB, 2 ** 32, encodePatternsBody([])))).toBe("9305cb41f000000000000090");
  });

  it("pins objects as self-describing records", () => {
    expect(hex(encodeMessageBody("t", { a: 1 }))).toBe("a174" + "d4724091a16101");
  });
});

describe("frame decoding", () => {
  const decode = (b: Uint8Array) => decodeFrames(createDecoder(), b);

  it("decodes several frames from one message", () => {
    const msg = Buffer.concat([
      encodeSequenced(FrameType.MSG, 1, encodeMessageBody("a.b", { x: [1, 2] })),
      encodeControl({ type: FrameType.ACK, seq: 9 }),
      encodeSequenced(FrameType.SUB, 2, encodePatternsBody(["a.*"])),
    ]);
    expect(decode(msg)).toEqual([
      { type: FrameType.MSG, seq: 1, topic: "a.b", data: { x: [1, 2] } },
      { type: FrameType.ACK, seq: 9 },
      { type: FrameType.SUB, seq: 2, patterns: ["a.*"] },
    ]);
  });

  it("round-trips Buffer, Date, Map, Set, bigint and nested objects", () => {
    const data = {
      buf: Buffer.from([1, 2, 3]),
      date: new Date(1700000000000),
      map: new Map<unknown, unknown>([["k", { z: 1 }], [2, "two"]]),
      set: new Set([1, "x"]),
      big: 12345678901234567890123n,
      small: -5n,
      nested: { list: [1, { deep: true }], nil: null },
    };
    const [frame] = decode(encodeSequenced(FrameType.MSG, 7, encodeMessageBody("t", data)));
    expect(frame).toEqual({ type: FrameType.MSG, seq: 7, topic: "t", data });
    const got = (frame as { data: typeof data }).data;
    expect(Buffer.isBuffer(got.buf)).toBe(true);
    expect(got.map).toBeInstanceOf(Map);
    expect(got.set).toBeInstanceOf(Set);
    expect(typeof got.small).toBe("bigint");
  });

  it.each([
    ["random bytes", Buffer.from([0xc1, 0xff, 0x00])],
    ["truncated msgpack", Buffer.from([0x94, 0x04, 0xce, 0x00])],
    ["a non-array", Buffer.from([0xa1, 0x61])],
    ["an empty message", Buffer.alloc(0)],
    ["a MSG without a topic", Buffer.from([0x92, 0x04, 0x01])],
    ["a HELLO with a short nonce", encodeControl({ type: 1, version: 1, id: "a", instance: "i", nonce: Buffer.alloc(4), maxFrameSize: 1, auth: false })],
  ])("refuses %s with ERR_MALFORMED_FRAME", (_name, bytes) => {
    expect(() => decode(bytes)).toThrow(ProtocolError);
    try {
      decode(bytes);
    } catch (e) {
      expect((e as ProtocolError).code).toBe(ErrorCode.MALFORMED_FRAME);
    }
  });

  it("refuses an unknown frame type with ERR_UNKNOWN_FRAME", () => {
    expect(() => toFrame([99])).toThrow(expect.objectContaining({ code: ErrorCode.UNKNOWN_FRAME }));
  });

  it("limits the patterns one frame may carry", () => {
    const many = Array.from({ length: 11 }, (_, i) => `t${i}`);
    expect(() => toFrame([FrameType.SUB, 1, many], { maxPatternsPerFrame: 10 })).toThrow(ProtocolError);
  });
});

describe("payload fast paths", () => {
  it.each([
    ["a short string", "hi"],
    ["a 40-byte string", "x".repeat(40)],
    ["a 300-byte string", "y".repeat(300)],
    ["a multi-byte string", "héllo wörld ✓ 😀".repeat(20)],
    ["an empty string", ""],
    ["a small Buffer", Buffer.from([1, 2, 3])],
    ["a 300-byte Buffer", Buffer.alloc(300, 7)],
    ["a 70 kB Buffer", Buffer.alloc(70_000, 9)],
  ])("encodes %s exactly as msgpackr does", (_name, value) => {
    const body = encodeMessageBody("t", value);
    const [frame] = decodeFrames(createDecoder(), encodeSequenced(FrameType.MSG, 1, body));
    expect((frame as { data: unknown }).data).toEqual(value);
    const reference = Buffer.concat([Buffer.from([0xa1, 0x74]), packValueForTest(value)]);
    expect(hex(body)).toBe(hex(reference));
  });
});
