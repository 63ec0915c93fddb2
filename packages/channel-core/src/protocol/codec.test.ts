import { inspect } from "node:util";
import { Packr, Unpackr, addExtension } from "msgpackr";
import { ErrorCode, LimitExceededError, PayloadError, ProtocolError } from "../errors.js";
import {
  createDecoder,
  decodeEach,
  decodeFrames,
  decodeMessageBody,
  decodeMessageData,
  encodeControl,
  encodeMessageBody,
  encodeMessageData,
  encodePatternsBody,
  encodeSequenced,
  packValue as packValueForTest,
  toFrame,
} from "./codec.js";
import { FrameType, PROTOCOL_VERSION, Role } from "./frames.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("frame encoding (golden bytes)", () => {
  it("pins HELLO (protocol version 2)", () => {
    const bytes = encodeControl({
      type: FrameType.HELLO,
      version: PROTOCOL_VERSION,
      role: Role.DIALER,
      id: "a",
      nonce: Buffer.alloc(32),
      key: Buffer.alloc(32, 1),
      maxFrameSize: 1048576,
      auth: false,
    });
    expect(hex(bytes)).toBe("98010201a161c420" + "00".repeat(32) + "c420" + "01".repeat(32) + "ce00100000c2");
  });

  it("pins AUTH", () => {
    expect(hex(encodeControl({ type: FrameType.AUTH, proof: Buffer.alloc(32, 2) }))).toBe("9202c420" + "02".repeat(32));
  });

  it("refuses a HELLO of another protocol version (a v1 HELLO) with ERR_PROTOCOL_VERSION", () => {
    const v1 = packValueForTest([1, 1, "a", "i", Buffer.alloc(16), 1048576, false]);
    let error: unknown;
    try {
      decodeFrames(createDecoder(), v1);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: ErrorCode.PROTOCOL_VERSION });
  });

  it("pins ACK, PING, READY, ERROR and BYE", () => {
    expect(hex(encodeControl({ type: FrameType.ACK, seq: 5 }))).toBe("920705");
    expect(hex(encodeControl({ type: FrameType.PING }))).toBe("9108");
    expect(hex(encodeControl({ type: FrameType.READY, instance: "i", resume: null, received: 0 }))).toBe("9403a169c000");
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
      map: new Map<unknown, unknown>([
        ["k", { z: 1 }],
        [2, "two"],
      ]),
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
    [
      "a HELLO with a short nonce",
      encodeControl({
        type: 1,
        version: PROTOCOL_VERSION,
        role: Role.DIALER,
        id: "a",
        nonce: Buffer.alloc(4),
        key: Buffer.alloc(32),
        maxFrameSize: 1,
        auth: false,
      }),
    ],
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

  it("limits the patterns one frame may carry, with the documented ERR_LIMIT_EXCEEDED", () => {
    const many = Array.from({ length: 11 }, (_, i) => `t${i}`);
    expect(() => toFrame([FrameType.SUB, 1, many], { maxPatternsPerFrame: 10 })).toThrow(LimitExceededError);
    expect(() => toFrame([FrameType.SUB, 1, many], { maxPatternsPerFrame: 10 })).toThrow(
      expect.objectContaining({ code: ErrorCode.LIMIT_EXCEEDED }),
    );
    expect(toFrame([FrameType.SUB, 1, many.slice(0, 10)], { maxPatternsPerFrame: 10 })).toMatchObject({ patterns: many.slice(0, 10) });
  });
});

describe("safe decoding: an explicit allow-list of what a peer's payload may contain", () => {
  /**
   * Both decoders: `decodeEach` (what links use: MSG frames read by hand, with payloads through
   * the fast reader where it can) and `decodeFrames` (the allow-list scan and msgpackr only)
   * must agree, frame for frame, or both refuse; the link's error is the one thrown.
   */
  const decode = (b: Uint8Array) => {
    let whole: unknown;
    try {
      whole = decodeFrames(createDecoder(), b);
    } catch (e) {
      whole = e;
    }
    const each = decodeEach(createDecoder(), b);
    if (each.error) {
      expect(whole).toBeInstanceOf(ProtocolError);
      throw each.error;
    }
    // inspect, not toEqual: it tells an invalid Date from another one, and key order counts.
    expect(inspect(each.frames, { depth: null })).toBe(inspect(whole, { depth: null }));
    return each.frames;
  };
  /** A MSG frame whose payload bytes are `payload`, exactly as given. */
  const msgWith = (payload: Uint8Array): Buffer => encodeSequenced(FrameType.MSG, 1, Buffer.concat([Buffer.from([0xa1, 0x74]), payload]));
  const refused = (bytes: Uint8Array, reason: RegExp): void => {
    let error: unknown;
    try {
      decode(bytes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: ErrorCode.MALFORMED_FRAME });
    expect((error as Error).message).toMatch(reason);
  };

  it("refuses structured-clone references: a few hundred bytes that stand for megabytes of shared graph", () => {
    let graph: unknown = { leaf: "x".repeat(16) };
    for (let i = 0; i < 20; i++) graph = [graph, graph];
    const bomb = new Packr({ structuredClone: true }).pack(graph);
    expect(bomb.length).toBeLessThan(400);
    refused(msgWith(bomb), /structured-clone reference/);
  });

  it.each([
    ["an Error", new Error("boom"), /an Error/],
    ["a RegExp", /(a+)+$/, /a RegExp/],
  ])("refuses %s (objects a peer should not make this process build)", (_n, value, reason) => {
    refused(msgWith(new Packr({ moreTypes: true }).pack(value)), reason);
  });

  it("bounds bigints: 1024 bits pass, more are refused", () => {
    const packr = new Packr({ moreTypes: true });
    const ok = 2n ** 1000n + 7n;
    expect(decode(msgWith(packr.pack(ok)))).toMatchObject([{ data: ok }]);
    expect(decode(msgWith(packr.pack(-(2n ** 1000n))))).toMatchObject([{ data: -(2n ** 1000n) }]);
    refused(msgWith(packr.pack(2n ** 80_000n)), /bigint of \d+ bytes/);
  });

  it("refuses an unknown extension, even one registered process-wide with msgpackr's addExtension", () => {
    refused(msgWith(Buffer.from([0xd4, 0x01, 0x00])), /extension type 1/);
    class Point {
      constructor(readonly x: number) {}
    }
    addExtension({ Class: Point, type: 0x2a, write: (p: Point) => p.x, read: (x: number) => new Point(x) });
    const bytes = new Packr({ moreTypes: true }).pack(new Point(3));
    expect(new Unpackr().unpack(bytes)).toBeInstanceOf(Point);
    refused(msgWith(bytes), /extension type 42/);
    expect(() => encodeMessageBody("t", new Point(1))).toThrow(PayloadError);
  });

  it("refuses two-byte record ids, bundled strings and the never-used byte", () => {
    refused(msgWith(Buffer.from([0xd5, 0x72, 0x40, 0x00, 0x90])), /two-byte record ids/);
    refused(msgWith(new Packr({ bundleStrings: true }).pack({ a: "bundled string value" })), /bundled strings/);
    refused(msgWith(Buffer.from([0xc1])), /0xc1/);
  });

  it("bounds nesting depth", () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    expect(decode(msgWith(packValueForTest(nest(100))))).toHaveLength(1);
    refused(msgWith(packValueForTest(nest(200))), /nesting deeper than 128/);
  });

  it("counts a MSG payload one level deep (an element of the frame's array), read by hand or not, and refuses at publish what a peer refuses", () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    const nestRecords = (n: number): unknown => (n === 0 ? 1 : { a: nestRecords(n - 1) });
    for (const make of [nest, nestRecords]) {
      expect(decode(msgWith(packValueForTest(make(127))))).toHaveLength(1);
      refused(msgWith(packValueForTest(make(128))), /nesting deeper than 128/);
      expect(() => encodeMessageBody("t", make(128))).toThrow(PayloadError);
      expect(decode(encodeSequenced(FrameType.MSG, 1, encodeMessageBody("t", make(127))))).toHaveLength(1);
    }
  });

  it("bounds distinct record shapes msgpackr would compile per frame (as publish checks each payload), but not one shape used many times", () => {
    // Each shape read four times makes msgpackr compile a reader for it.
    const payload = (n: number, from = 0): unknown[] =>
      Array.from({ length: n }, (_, j) => Array.from({ length: 4 }, () => ({ [`k${from + j}`]: 1 }))).flat();
    const frames = (n: number, distinct: boolean): Buffer =>
      Buffer.concat(
        Array.from({ length: n }, (_, i) =>
          encodeSequenced(
            FrameType.MSG,
            i + 1,
            encodeMessageBody(
              "t",
              Array.from({ length: 4 }, () => ({ [distinct ? `k${i}` : "k"]: 1 })),
            ),
          ),
        ),
      );
    expect(decode(frames(5000, false))).toHaveLength(5000);
    expect(decode(frames(2000, true))).toHaveLength(2000);
    // One payload with too many shapes: refused at publish, and by a peer.
    expect(() => encodeMessageBody("t", payload(2000))).toThrow(PayloadError);
    refused(msgWith(packValueForTest(payload(2000))), /record shapes to compile/);
    // Two payloads that publish accepts, batched into one message by the sender: both arrive.
    const two = Buffer.concat([
      encodeSequenced(FrameType.MSG, 1, encodeMessageBody("t", payload(600))),
      encodeSequenced(FrameType.MSG, 2, encodeMessageBody("t", payload(600, 600))),
    ]);
    expect(decode(two)).toHaveLength(2);
  });

  it("counts every hot record definition, even of a shape seen before (msgpackr compiles a reader for each)", () => {
    /** One payload: the one-key shape `{k}` defined `n` times, each definition read four times. */
    const redefined = (n: number): Buffer => {
      const bytes: number[] = [0xdd, ((4 * n) >>> 24) & 255, ((4 * n) >>> 16) & 255, ((4 * n) >>> 8) & 255, (4 * n) & 255];
      for (let i = 0; i < n; i++) bytes.push(0xd4, 0x72, 0x40, 0x91, 0xa1, 0x6b, 0x01, 0x40, 0x02, 0x40, 0x03, 0x40, 0x04);
      return Buffer.from(bytes);
    };
    expect(decode(msgWith(redefined(500)))).toHaveLength(1);
    refused(msgWith(redefined(2000)), /record shapes to compile/);
  });

  it("decodes what the encoder writes: Date (incl. invalid), Set, Map, undefined, typed arrays", () => {
    const data = { d: new Date(1700000000123), s: new Set([1, [2]]), m: new Map([[{ k: 1 }, "v"]]), u: undefined };
    const [frame] = decode(encodeSequenced(FrameType.MSG, 1, encodeMessageBody("t", { ...data, bad: new Date(NaN) })));
    const { bad, ...rest } = (frame as { data: typeof data & { bad: Date } }).data;
    expect(rest).toEqual(data);
    expect(bad.getTime()).toBeNaN();
    // Typed arrays as msgpackr writes them (Float32Array [1], ArrayBuffer [1, 2]); built by hand
    // because jest's realm hides test-made typed arrays from msgpackr's instanceof checks.
    const [typed] = decode(msgWith(Buffer.from("92c70574070000803fc70374100102", "hex")));
    const [f, ab] = (typed as { data: [Float32Array, ArrayBuffer] }).data;
    expect([Object.prototype.toString.call(f), ...f]).toEqual(["[object Float32Array]", 1]);
    expect([Object.prototype.toString.call(ab), ...new Uint8Array(ab)]).toEqual(["[object ArrayBuffer]", 1, 2]);
    refused(msgWith(Buffer.from("c70374630102", "hex")), /typed array of unknown kind 99/);
  });

  it("refuses, at publish time, what peers would refuse (ERR_PAYLOAD, before anything is sent)", () => {
    expect(() => encodeMessageBody("t", { e: new Error("x") })).toThrow(PayloadError);
    expect(() => encodeMessageBody("t", /x/)).toThrow(PayloadError);
    expect(() => encodeMessageBody("t", 2n ** 2000n)).toThrow(PayloadError);
    const deep = JSON.parse("[".repeat(300) + "]".repeat(300)) as unknown;
    expect(() => encodeMessageBody("t", deep)).toThrow(PayloadError);
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

describe("decodeMessageBody: Buffer payload bodies (str topic, then bin)", () => {
  const reference = (body: Uint8Array): unknown[] => createDecoder().unpackMultiple(body) as unknown[];

  it("decodes exactly what msgpackr decodes, the data a view of the body, for every str and bin header size", () => {
    const topics = ["a", "orders.created", "t".repeat(31), "t".repeat(32), "ü.ß.€", "x".repeat(255)];
    for (const topic of topics) {
      for (const n of [0, 1, 255, 256, 65_535, 65_536]) {
        const payload = Buffer.alloc(n, 0x5a);
        // At an offset inside a larger buffer, as a message read from a socket is.
        const body = Buffer.concat([Buffer.from([1, 2, 3]), encodeMessageBody(topic, payload)]).subarray(3);
        const { topic: t, data } = decodeMessageBody(body);
        const [rt, rd] = reference(body);
        expect(t).toBe(rt);
        expect(t).toBe(topic);
        expect(Buffer.isBuffer(data)).toBe(true);
        expect((data as Buffer).equals(rd as Buffer)).toBe(true);
        expect((data as Buffer).buffer).toBe(body.buffer);
        // A plain Uint8Array body gives a Uint8Array, as msgpackr does.
        const plain = decodeMessageBody(new Uint8Array(body)).data;
        expect(plain).toBeInstanceOf(Uint8Array);
        expect(Buffer.isBuffer(plain)).toBe(false);
      }
    }
  });

  it("near misses (a byte too many or too few, an empty topic, a str16 topic) go through the guarded decoder", () => {
    const good = encodeMessageBody("t.x", Buffer.from([1, 2, 3]));
    const malformed = [
      Buffer.concat([good, Buffer.from([0])]), // a third value
      good.subarray(0, good.length - 1), // cut
      Buffer.from([0xa0, 0xc4, 0x01, 0x07]), // empty topic
      Buffer.from([0xd9, 0x00, 0xc4, 0x00]), // empty str8 topic
      Buffer.from([0xa3, 0x61, 0x62]), // cut topic
    ];
    for (const body of malformed) {
      expect(() => decodeMessageBody(body)).toThrow(expect.objectContaining({ code: ErrorCode.MALFORMED_FRAME }));
    }
    const str16 = Buffer.concat([Buffer.from([0xda, 0x01, 0x00]), Buffer.alloc(256, 0x61), Buffer.from([0xc4, 0x01, 0x09])]);
    expect(decodeMessageBody(str16)).toEqual({ topic: "a".repeat(256), data: Buffer.from([9]) });
  });
});

describe("encodeMessageData and decodeMessageData: a payload carried without its topic", () => {
  const malformed = expect.objectContaining({ code: ErrorCode.MALFORMED_FRAME });
  const payloads: unknown[] = [
    "",
    "hi",
    "é".repeat(300),
    "x".repeat(0x8000),
    Buffer.alloc(0),
    Buffer.alloc(300, 7),
    Buffer.alloc(70_000, 9),
    42,
    null,
    { a: [1, 2], b: new Map([["k", 1n]]) },
  ];

  it("packs exactly the bytes that follow the topic in a body, after the head given, for every payload kind", () => {
    for (const payload of payloads) {
      for (const topic of ["a", "t".repeat(32), "ü.ß.€", "x".repeat(300)]) {
        const body = encodeMessageBody(topic, payload);
        const t = packValueForTest(topic);
        expect(hex(body.subarray(0, t.length))).toBe(hex(t));
        expect(hex(encodeMessageData(payload))).toBe(hex(body.subarray(t.length)));
        expect(hex(encodeMessageBody(topic, payload, Buffer.from([0xc1, 9])))).toBe(`c109${hex(body)}`);
      }
      expect(hex(encodeMessageData(payload, Buffer.from([0xc0, 1, 2])))).toBe(`c00102${hex(encodeMessageData(payload))}`);
    }
  });

  it("reads back every payload kind as the body decoder does, a Buffer as a view of the message", () => {
    for (const payload of payloads) {
      // After a head, as a message read from a socket is.
      const framed = encodeMessageData(payload, Buffer.from([0xc0, 1, 2]));
      const data = decodeMessageData(framed, 3);
      expect(data).toEqual(payload);
      if (Buffer.isBuffer(payload)) expect((data as Buffer).buffer).toBe(framed.buffer);
      expect(inspect(data, { depth: null })).toBe(inspect(decodeMessageBody(encodeMessageBody("t", payload)).data, { depth: null }));
    }
  });

  it("refuses what the body encoder refuses", () => {
    expect(() => encodeMessageData(new Error("x"))).toThrow(PayloadError);
  });

  it("refuses empty, cut, padded and unsafe payloads with ERR_MALFORMED_FRAME", () => {
    const bin = packValueForTest(Buffer.from([1, 2, 3]));
    const shared = { leaf: "x" };
    const bad: [Uint8Array, number][] = [
      [new Uint8Array(0), 0],
      [bin, bin.length], // nothing after the start
      [bin.subarray(0, bin.length - 1), 0], // cut bin
      [Buffer.concat([bin, Buffer.from([0])]), 0], // a second value
      [Buffer.concat([packValueForTest("x"), packValueForTest("y")]), 0],
      [Buffer.from([0xc1]), 0], // the never-used byte
      [Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]), 0], // a bin that claims 4 GiB
      [Buffer.from([0xdc, 0xff, 0xff]), 0], // an array of 65535 elements, none there
      [new Packr({ structuredClone: true }).pack([shared, shared]), 0], // a shared reference
      [new Packr({ moreTypes: true }).pack(new Error("x")), 0],
    ];
    for (const [bytes, start] of bad) expect(() => decodeMessageData(bytes, start)).toThrow(malformed);
  });
});

describe("decodeEach: MSG frames with Buffer payloads read by hand", () => {
  const msg = (seq: number, topic: string, payload: Buffer): Buffer =>
    encodeSequenced(FrameType.MSG, seq, encodeMessageBody(topic, payload));

  it("gives each payload as a view of the received message, as msgpackr does", () => {
    // Larger than Buffer's pool: the message has an ArrayBuffer of its own.
    const data = Buffer.concat([msg(1, "a.b", Buffer.from([1, 2])), msg(2, "a.b", Buffer.alloc(5000, 3))]);
    const { frames, end, error } = decodeEach(createDecoder(), data);
    expect(error).toBeUndefined();
    expect(end).toBe(data.length);
    expect(frames).toEqual([
      { type: FrameType.MSG, seq: 1, topic: "a.b", data: Buffer.from([1, 2]) },
      { type: FrameType.MSG, seq: 2, topic: "a.b", data: Buffer.alloc(5000, 3) },
    ]);
    for (const f of frames) expect((f as { data: Buffer }).data.buffer).toBe(data.buffer);
  });

  it("tells apart topics that share a slot of its topic cache", () => {
    // Same length and the same first, middle and last bytes.
    const topics = ["ab.cd.ef", "ab.xd.ef", "ab.cd.ef", "ab.xd.ef"];
    const data = Buffer.concat(topics.map((t, i) => msg(i + 1, t, Buffer.from([i]))));
    expect(decodeEach(createDecoder(), data).frames.map((f) => (f as { topic: string }).topic)).toEqual(topics);
  });

  it("leaves non-ASCII topics, empty and overlong topics to msgpackr and the frame checks", () => {
    const utf8 = decodeEach(createDecoder(), msg(1, "ü.ß.€", Buffer.from([7])));
    expect(utf8.frames).toEqual([{ type: FrameType.MSG, seq: 1, topic: "ü.ß.€", data: Buffer.from([7]) }]);
    const header = Buffer.from([0x94, FrameType.MSG, 0xce, 0, 0, 0, 1]);
    const empty = Buffer.concat([header, Buffer.from([0xa0, 0xc4, 0x01, 0x07])]);
    const overlong = Buffer.concat([header, Buffer.from([0xda, 0x04, 0x01]), Buffer.alloc(1025, 0x61), Buffer.from([0xc4, 0x01, 0x07])]);
    for (const bad of [empty, overlong]) {
      const good = msg(1, "t", Buffer.from([1]));
      const { frames, error } = decodeEach(createDecoder(), Buffer.concat([good, bad]));
      expect(frames).toHaveLength(1);
      expect(error?.code).toBe(ErrorCode.MALFORMED_FRAME);
    }
  });

  it("hands on no frame of a message the allow-list refuses, even frames it read by hand before the refused value", () => {
    const data = Buffer.concat([msg(1, "t", Buffer.from([1])), Buffer.from([0xd6, 0x69, 0, 0, 0, 1])]);
    const { frames, end, error } = decodeEach(createDecoder(), data);
    expect(frames).toEqual([]);
    expect(end).toBe(0);
    expect(error?.code).toBe(ErrorCode.MALFORMED_FRAME);
  });
});
