import { inspect } from "node:util";
import fc from "fast-check";
import { ChannelError, PayloadError, ProtocolError } from "../errors.js";
import {
  type DecodedFrames,
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
  packValue,
  toFrame,
} from "./codec.js";
import { FrameType } from "./frames.js";
import { assertTopic } from "./topic.js";
import { UnsafeValueError, checkValues } from "./value-guard.js";

const decoder = createDecoder();

/** The decoder's contract: frames, or a typed error (a ProtocolError, or a LimitExceededError); never another exception. */
function decodesOrRefuses(bytes: Uint8Array): void {
  try {
    const frames = decodeFrames(decoder, bytes);
    for (const f of frames) expect(typeof f.type).toBe("number");
  } catch (e) {
    if (!(e instanceof ProtocolError) && !(e instanceof ChannelError && e.code === "ERR_LIMIT_EXCEEDED")) throw e;
  }
}

// JSON values, normalised as JSON does (-0 becomes 0, which msgpackr also writes as 0), and
// without a "__proto__" key: msgpackr renames that key on decode (see the last test).
const json = fc
  .jsonValue()
  .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
  .filter((v) => !JSON.stringify(v).includes('"__proto__"'));

/** Any value, of every kind the encoder knows (and some it refuses), nested up to `maxDepth`. */
const anything = (maxDepth: number) =>
  fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: false,
    withBoxedValues: false,
    maxDepth,
  });

// Any payload the encoder accepts (records, Maps, Sets, Dates, bigints, undefined, repeated
// shapes, a "__proto__" key): the link reads some by hand and leaves the rest to msgpackr.
const anyPayload = fc
  .oneof(
    anything(5),
    fc.array(fc.record({ id: fc.integer(), name: fc.string(), tags: fc.array(fc.string(), { maxLength: 3 }) }), { maxLength: 8 }),
    fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "ok": [{"__proto__": 1}]}') as unknown),
  )
  .filter((v) => {
    try {
      encodeMessageBody("t", v);
      return true;
    } catch {
      return false;
    }
  });

// The reference: every frame of the message through the allow-list scan and msgpackr.
const reference = (data: Buffer): DecodedFrames => {
  const out: DecodedFrames = { frames: [], end: 0, error: undefined };
  try {
    checkValues(data);
    createDecoder().unpackMultiple(data, (value: unknown, _start?: number, end = data.length) => {
      out.frames.push(toFrame(value));
      out.end = end;
      return true;
    });
  } catch (cause) {
    if (cause instanceof UnsafeValueError) out.frames = [];
    out.end = cause instanceof UnsafeValueError ? 0 : out.end;
    out.error = cause instanceof ChannelError ? cause : new ProtocolError("ERR_MALFORMED_FRAME", String(cause));
  }
  return out;
};

/** decodeEach gives exactly what the reference gives: frames, end and error code. */
function sameAsReference(data: Buffer): void {
  const got = decodeEach(createDecoder(), data);
  const want = reference(data);
  // inspect, not toEqual: `{ a: undefined }` is not `{}`, nor an invalid Date another one.
  expect(inspect(got.frames, { depth: null })).toBe(inspect(want.frames, { depth: null }));
  expect(got.end).toBe(want.end);
  expect(got.error?.code).toBe(want.error?.code);
}

const token = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
const topic = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join("."));

describe("frame decoder (property-based)", () => {
  it("never throws anything but a ProtocolError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => decodesOrRefuses(b)),
      { numRuns: 3000 },
    );
  });

  it("never throws anything but a ProtocolError on arbitrary well-formed msgpack", () => {
    const frameLike = fc.oneof(
      fc.anything(),
      fc.tuple(fc.integer({ min: -2, max: 15 }), fc.anything(), fc.anything(), fc.anything()),
      fc.array(fc.anything(), { maxLength: 8 }),
    );
    fc.assert(
      fc.property(frameLike, (v) => decodesOrRefuses(packValue(v))),
      { numRuns: 2000 },
    );
  });

  it("never throws anything but a ProtocolError on valid frames with bytes flipped or cut", () => {
    const valid = fc
      .tuple(fc.integer({ min: 1, max: 2 ** 40 }), topic, fc.jsonValue())
      .map(([seq, t, data]) => encodeSequenced(FrameType.MSG, seq, encodeMessageBody(t, data)));
    fc.assert(
      fc.property(valid, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (frame, at, byte, cut) => {
        const b = Buffer.from(frame);
        const i = at % b.length;
        if (cut) decodesOrRefuses(b.subarray(0, i));
        else {
          b[i] = byte;
          decodesOrRefuses(b);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("accepts on receive whatever it lets a publisher send (the allow-list is the same on both sides)", () => {
    const value = anything(6);
    fc.assert(
      fc.property(value, (v) => {
        let body: Buffer;
        try {
          body = encodeMessageBody("t", v);
        } catch (e) {
          // The only refusal: a payload outside the allow-list, typed.
          expect(e).toBeInstanceOf(PayloadError);
          return;
        }
        expect(decodeFrames(decoder, encodeSequenced(FrameType.MSG, 1, body))).toHaveLength(1);
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips any MSG and SUB frame", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 50 }), topic, json, fc.array(topic, { maxLength: 20 }), (seq, t, data, patterns) => {
        const bytes = Buffer.concat([
          encodeSequenced(FrameType.MSG, seq, encodeMessageBody(t, data)),
          encodeSequenced(FrameType.SUB, seq + 1, encodePatternsBody(patterns)),
        ]);
        const frames = decodeFrames(decoder, bytes);
        expect(frames).toEqual([
          { type: FrameType.MSG, seq, topic: t, data },
          { type: FrameType.SUB, seq: seq + 1, patterns },
        ]);
      }),
      { numRuns: 1000 },
    );
  });

  it("never lets a peer's payload reach a prototype (a __proto__ key is renamed, not applied)", () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');
    const [frame] = decodeFrames(decoder, encodeSequenced(FrameType.MSG, 1, encodeMessageBody("t", hostile)));
    const data = (frame as { data: Record<string, unknown> }).data;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(data.ok).toBe(1);
  });

  it("reads MSG frames by hand (Buffer payloads as views, others through the fast reader) exactly as msgpackr reads them, in any mix, intact or damaged", () => {
    const anyTopic = fc.oneof(topic, fc.constantFrom("ü.ß", "x".repeat(40), "y".repeat(300), "t"));
    const frame = fc.oneof(
      fc
        .tuple(fc.integer({ min: 0, max: 2 ** 33 }), anyTopic, fc.uint8Array({ maxLength: 300 }))
        .map(([seq, t, b]) => encodeSequenced(FrameType.MSG, seq, encodeMessageBody(t, Buffer.from(b)))),
      fc
        .tuple(fc.integer({ min: 1, max: 2 ** 20 }), topic, json)
        .map(([seq, t, d]) => encodeSequenced(FrameType.MSG, seq, encodeMessageBody(t, d))),
      fc
        .tuple(fc.integer({ min: 1, max: 2 ** 20 }), fc.array(topic, { maxLength: 3 }))
        .map(([seq, p]) => encodeSequenced(FrameType.SUB, seq, encodePatternsBody(p))),
      fc.integer({ min: 0, max: 2 ** 20 }).map((seq) => encodeControl({ type: FrameType.ACK, seq })),
      fc
        .tuple(fc.integer({ min: 1, max: 2 ** 20 }), topic, anyPayload)
        .map(([seq, t, d]) => encodeSequenced(FrameType.MSG, seq, encodeMessageBody(t, d))),
      fc.constant(packValue({ a: 1, b: [2] })),
      fc.constant(Buffer.from([0xd6, 0x69, 0, 0, 0, 1])), // a refused extension
    );
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 2 }),
        (frames, at, byte, damage) => {
          const b = Buffer.concat(frames);
          const i = at % b.length;
          const data = damage === 0 ? b : damage === 1 ? b.subarray(0, i) : Buffer.from(b);
          if (damage === 2) data[i] = byte;
          if (data.length === 0) return;
          const got = decodeEach(createDecoder(), data);
          const want = reference(data);
          // inspect, not toEqual: `{ a: undefined }` is not `{}`, nor an invalid Date another one.
          expect(inspect(got.frames, { depth: null })).toBe(inspect(want.frames, { depth: null }));
          expect(got.end).toBe(want.end);
          expect(got.error?.code).toBe(want.error?.code);
          for (const f of got.frames)
            if (f.type === FrameType.MSG && f.data instanceof Uint8Array) expect(Buffer.isBuffer(f.data)).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("reads hand-made payloads (records defined, redefined and referred to across frames, odd keys, nesting at the limit) exactly as the allow-list and msgpackr do", () => {
    const bytes = (...b: number[]) => Buffer.from(b);
    const str = (s: string) => {
      const b = Buffer.from(s);
      return Buffer.concat([b.length < 32 ? bytes(0xa0 | b.length) : bytes(0xd9, b.length), b]);
    };
    const key = fc.oneof(
      fc.constantFrom("a", "b", "__proto__", "constructor", "toString", "1", "", "ü", "__proto_").map(str),
      fc.constantFrom(bytes(0xd9, 1, 0x61), bytes(0xa2, 0xc3, 0x28), bytes(0xa3, 0xed, 0xa0, 0x80), bytes(0x01)),
    );
    const header = (n: number, wide: boolean) => (wide ? bytes(0xdc, 0, n) : bytes(0x90 | n));
    const { value } = fc.letrec<{ value: Buffer }>((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.constantFrom(
          bytes(0x01),
          bytes(0x40),
          bytes(0x41),
          bytes(0xc0),
          bytes(0xc3),
          bytes(0xd4, 0x00, 0x00),
          bytes(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0),
          bytes(0xca, 0x3f, 0x80, 0, 0),
          bytes(0xd6, 0x69, 0, 0, 0, 1),
          bytes(0xc4, 1, 7),
        ),
        key,
        // A record definition (id 0x40 or 0x41, or any byte), its keys, and values for them.
        fc
          .tuple(
            fc.constantFrom(0x40, 0x41, 0x00, 0xff),
            fc.array(key, { maxLength: 3 }),
            fc.boolean(),
            fc.array(tie("value"), { maxLength: 3 }),
          )
          .map(([id, keys, wide, values]) => Buffer.concat([bytes(0xd4, 0x72, id), header(keys.length, wide), ...keys, ...values])),
        // A reference (or a fixint, where nothing is defined) followed by values.
        fc.tuple(fc.constantFrom(0x40, 0x41), fc.array(tie("value"), { maxLength: 3 })).map(([id, v]) => Buffer.concat([bytes(id), ...v])),
        fc.tuple(fc.array(tie("value"), { maxLength: 3 }), fc.boolean()).map(([v, wide]) => Buffer.concat([header(v.length, wide), ...v])),
        fc.array(tie("value"), { maxLength: 2 }).map((v) => Buffer.concat([bytes(0x80 | (v.length >> 1)), ...v])),
        // Nesting around the limit: arrays, or records of one key.
        fc
          .tuple(fc.integer({ min: 124, max: 130 }), fc.boolean())
          .map(([n, records]) =>
            records
              ? Buffer.concat([bytes(0xd4, 0x72, 0x42, 0x91, 0xa1, 0x6b), ...Array.from({ length: n - 1 }, () => bytes(0x42)), bytes(1)])
              : Buffer.concat([Buffer.alloc(n, 0x91), bytes(1)]),
          ),
      ),
    }));
    const frame = fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .tuple(fc.integer({ min: 1, max: 2 ** 20 }), value)
          .map(([seq, v]) => Buffer.concat([encodeSequenced(FrameType.MSG, seq, str("t")), v])),
      },
      fc.integer({ min: 1, max: 2 ** 20 }).map((seq) => encodeSequenced(FrameType.MSG, seq, encodeMessageBody("t", Buffer.from([1])))),
      fc.integer({ min: 1, max: 2 ** 20 }).map((seq) => encodeSequenced(FrameType.SUB, seq, encodePatternsBody(["t"]))),
      fc.constant(encodeControl({ type: FrameType.ACK, seq: 1 })),
      value,
    );
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 3 }),
        (frames, at, byte, damage) => {
          const b = Buffer.concat(frames);
          const i = at % b.length;
          const data = damage === 1 ? b.subarray(0, i) : damage === 2 ? Buffer.from(b) : b;
          if (damage === 2) data[i] = byte;
          if (data.length > 0) sameAsReference(data);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("decodeMessageBody (bodies routers carry), property-based", () => {
  /** The reference: the allow-list scan, then msgpackr, then the shape check; a ProtocolError's code if any. */
  const reference = (body: Buffer): unknown => {
    try {
      checkValues(body);
      const values = createDecoder().unpackMultiple(body) as unknown[];
      const [t, data] = values;
      if (values.length !== 2 || typeof t !== "string" || t.length === 0) return "ERR_MALFORMED_FRAME";
      assertTopic(t, true);
      return { topic: t, data };
    } catch {
      return "ERR_MALFORMED_FRAME";
    }
  };
  const got = (body: Buffer): unknown => {
    try {
      return decodeMessageBody(body);
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      return (e as ProtocolError).code;
    }
  };

  it("gives what the guarded decoder gives, for any payload, intact or damaged", () => {
    fc.assert(
      fc.property(
        topic,
        anyPayload,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 2 }),
        (t, d, at, byte, damage) => {
          const b = encodeMessageBody(t, d);
          const i = at % b.length;
          const body = damage === 0 ? b : damage === 1 ? b.subarray(0, i) : Buffer.from(b);
          if (damage === 2) body[i] = byte;
          if (body.length === 0) return;
          const want = reference(body);
          const have = got(body);
          expect(inspect(have, { depth: null })).toBe(inspect(want, { depth: null }));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("decodeMessageData (payloads routers carry without their topic), property-based", () => {
  /** The reference: the allow-list scan, then msgpackr, exactly one value; a ProtocolError's code if any. */
  const reference = (bytes: Buffer): unknown => {
    try {
      checkValues(bytes);
      const values = createDecoder().unpackMultiple(bytes) as unknown[];
      return values.length === 1 ? values[0] : "ERR_MALFORMED_FRAME";
    } catch {
      return "ERR_MALFORMED_FRAME";
    }
  };

  it("gives what the guarded decoder gives, for any payload after any head, intact or damaged", () => {
    fc.assert(
      fc.property(
        anyPayload,
        fc.integer({ min: 0, max: 3 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 2 }),
        (d, headLength, at, byte, damage) => {
          const head = Buffer.alloc(headLength, 0xc0);
          const whole = encodeMessageData(d, head);
          const i = headLength + (at % (whole.length - headLength));
          const framed = damage === 0 ? whole : damage === 1 ? whole.subarray(0, i) : Buffer.from(whole);
          if (damage === 2) framed[i] = byte;
          if (framed.length <= headLength) return;
          let have: unknown;
          try {
            have = decodeMessageData(framed, headLength);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
            have = (e as ProtocolError).code;
          }
          expect(inspect(have, { depth: null })).toBe(inspect(reference(Buffer.from(framed.subarray(headLength))), { depth: null }));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
