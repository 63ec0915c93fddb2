import { inspect } from "node:util";
import fc from "fast-check";
import { ChannelError, PayloadError, ProtocolError } from "../errors.js";
import {
  type DecodedFrames,
  createDecoder,
  decodeEach,
  decodeFrames,
  decodeMessageBody,
  encodeControl,
  encodeMessageBody,
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
