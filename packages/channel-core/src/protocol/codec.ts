// Node's global `Buffer` is a getter (a call per use, not inlined): hot paths import it.
import { Buffer } from "node:buffer";
import { Packr, Unpackr } from "msgpackr";
import { ChannelError, ErrorCode, LimitExceededError, PayloadError, ProtocolError } from "../errors.js";
import { FrameType, PROTOCOL_VERSION, Role, type ControlFrame, type Frame } from "./frames.js";
import { MAX_TOPIC_LENGTH, assertTopic } from "./topic.js";
import { beginFrame, beginValues, definitionsRead, readEnd, readValue } from "./fast-reader.js";
import { DEFAULT_VALUE_LIMITS, UnsafeValueError, checkValues, type ValueLimits } from "./value-guard.js";

/*
 * Payloads are packed in msgpackr's record mode: a plain object becomes a self-describing
 * record and a Map stays a MessagePack map, so the decoder (mapsAsObjects: false) gives
 * back objects as objects and Maps as Maps. Records reinterpret the fixints 0x40-0x7f after
 * a record definition, so every integer this module writes by hand avoids that range.
 */
const PACK_OPTIONS = { useRecords: true, moreTypes: true, useBigInt64: true, int64AsType: "bigint" } as const;

const packr = new Packr(PACK_OPTIONS);

/**
 * A decoder for one connection: record definitions sent by one peer never leak into another's
 * frames. What a peer's bytes may contain is decided by {@link checkValues} before this
 * decoder runs (msgpackr's extensions are process-global); structured clones are also off here.
 */
export function createDecoder(): Unpackr {
  return new Unpackr({ ...PACK_OPTIONS, mapsAsObjects: false, structuredClone: false });
}

/** Limits applied while decoding a peer's frames. */
export interface DecodeLimits {
  /** Most patterns one SUB/UNSUB frame may carry. */
  maxPatternsPerFrame: number;
  /** What values may contain (extensions, depth, bigint size, record shapes). */
  values?: ValueLimits;
}

/** Default decoding limits. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxPatternsPerFrame: 10_000, values: DEFAULT_VALUE_LIMITS };

/** Packs a value (a payload, a topic, a pattern list) to MessagePack. */
export function packValue(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch (cause) {
    throw new PayloadError(`payload cannot be encoded: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** Encodes a control frame (one that is sent once and never resent). */
export function encodeControl(frame: ControlFrame): Buffer {
  switch (frame.type) {
    case FrameType.HELLO:
      return packr.pack([frame.type, frame.version, frame.role, frame.id, frame.nonce, frame.key, frame.maxFrameSize, frame.auth]);
    case FrameType.AUTH:
      return packr.pack([frame.type, frame.proof]);
    case FrameType.READY:
      return packr.pack([frame.type, frame.instance, frame.resume, frame.received]);
    case FrameType.ACK:
      return packr.pack([frame.type, frame.seq]);
    case FrameType.PING:
    case FrameType.PONG:
      return packr.pack([frame.type]);
    case FrameType.ERROR:
      return packr.pack([frame.type, frame.code, frame.message]);
    case FrameType.BYE:
      return packr.pack([frame.type, frame.reason]);
  }
}

/** Number of array elements of each sequenced frame type. */
const ARITY = { [FrameType.MSG]: 4, [FrameType.SUB]: 3, [FrameType.UNSUB]: 3 } as const;

/** Sequenced frame types. */
export type SequencedType = keyof typeof ARITY;

/** Byte length of a sequenced frame's header (array marker, type, sequence number). */
export function headerLength(seq: number): number {
  return seq <= 0xffffffff ? 7 : 11;
}

/**
 * The body of a MSG frame: topic and payload, packed once per publish and shared by every
 * link it goes to; each link only adds its own 7-byte header. With `head`, the body comes after
 * those bytes in the same buffer (a router's own framing, without a second copy).
 */
export function encodeMessageBody(topic: string, data: unknown, head: Uint8Array = NO_BYTES): Buffer {
  return encodeAfter(head, packedTopic(topic), data);
}

/**
 * A payload packed on its own, after `head` in the same buffer: for routers whose transport
 * carries the topic already (a NATS subject). {@link decodeMessageData} reads it back; the bytes
 * are those that follow the topic in {@link encodeMessageBody}'s body.
 */
export function encodeMessageData(data: unknown, head: Uint8Array = NO_BYTES): Buffer {
  return encodeAfter(head, NO_BYTES, data);
}

const NO_BYTES = new Uint8Array(0);

/** `head`, then the packed topic `t` (may be empty), then `data` packed, in one buffer. */
function encodeAfter(head: Uint8Array, t: Uint8Array, data: unknown): Buffer {
  const before = head.length + t.length;
  // Buffers and strings are the common payloads; their MessagePack form (bin, str) is
  // trivial, so they skip msgpackr's per-call overhead. Everything else goes through it.
  if (Buffer.isBuffer(data)) {
    const n = data.length;
    const size = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    const out = Buffer.allocUnsafe(before + size + n);
    // TypedArray#set, not Buffer#copy: for bodies this small copy's argument handling costs
    // more than the bytes.
    if (head.length > 0) out.set(head, 0);
    out.set(t, head.length);
    let o = before;
    if (size === 2) {
      out[o++] = 0xc4;
      out[o++] = n;
    } else if (size === 3) {
      out[o++] = 0xc5;
      out.writeUInt16BE(n, o);
      o += 2;
    } else {
      out[o++] = 0xc6;
      out.writeUInt32BE(n, o);
      o += 4;
    }
    out.set(data, o);
    return out;
  }
  if (typeof data === "string" && data.length < 0x8000) {
    const max = data.length * 3;
    const out = Buffer.allocUnsafe(before + 5 + max);
    if (head.length > 0) out.set(head, 0);
    out.set(t, head.length);
    const start = before + 5;
    const n = out.write(data, start, "utf8");
    let size: number;
    if (n < 32) {
      size = 1;
      out[start - 1] = 0xa0 | n;
    } else if (n < 0x100) {
      size = 2;
      out[start - 2] = 0xd9;
      out[start - 1] = n;
    } else {
      size = 3;
      out[start - 3] = 0xda;
      out.writeUInt16BE(n, start - 2);
    }
    // Close the gap between topic and header so the body is contiguous.
    out.copyWithin(before, start - size, start + n);
    return out.subarray(0, before + size + n);
  }
  const v = packValue(data);
  try {
    // Peers refuse what is outside the allow-list; refuse it here, before anything is sent. A
    // peer scans the payload as an element of the frame's array, one level deep.
    checkValues(v, DEFAULT_VALUE_LIMITS, 0, v.length, 1);
  } catch (cause) {
    throw new PayloadError(`payload cannot be sent: ${(cause as Error).message}`, { cause });
  }
  const out = Buffer.allocUnsafe(before + v.length);
  if (head.length > 0) out.set(head, 0);
  out.set(t, head.length);
  out.set(v, before);
  return out;
}

// Encoded topics, reused across publishes; bounded so a stream of unique topics cannot grow it.
let topicCache = new Map<string, Buffer>();

function packedTopic(topic: string): Buffer {
  let t = topicCache.get(topic);
  if (t === undefined) {
    t = Buffer.from(packr.pack(topic));
    if (topicCache.size >= 4096) topicCache = new Map();
    topicCache.set(topic, t);
  }
  return t;
}

/** The body of a SUB or UNSUB frame. */
export function encodePatternsBody(patterns: readonly string[]): Buffer {
  return packr.pack(patterns);
}

/**
 * Writes a sequenced frame's header at `offset` and returns the offset after it.
 * The sequence number is always a uint32 (or a float64 past 2^32) so it never lands in the
 * fixint range that record mode reinterprets.
 */
export function writeHeader(target: Buffer, offset: number, type: SequencedType, seq: number): number {
  target[offset++] = 0x90 | ARITY[type];
  target[offset++] = type;
  if (seq <= 0xffffffff) {
    target[offset++] = 0xce;
    target.writeUInt32BE(seq, offset);
    return offset + 4;
  }
  target[offset++] = 0xcb;
  target.writeDoubleBE(seq, offset);
  return offset + 8;
}

/** Encodes one complete sequenced frame (header and body) into a new buffer. */
export function encodeSequenced(type: SequencedType, seq: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(headerLength(seq) + body.length);
  // TypedArray#set, not Buffer#copy: for bodies this small copy's argument handling costs more than the bytes.
  out.set(body, writeHeader(out, 0, type, seq));
  return out;
}

function malformed(message: string, cause?: unknown): ProtocolError {
  return new ProtocolError(ErrorCode.MALFORMED_FRAME, message, { cause });
}

function isSeq(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isBytes(v: unknown, min: number, max: number): v is Uint8Array {
  return v instanceof Uint8Array && v.length >= min && v.length <= max;
}

function isShortString(v: unknown, max: number): v is string {
  return typeof v === "string" && v.length <= max;
}

function patterns(v: unknown, limits: DecodeLimits): string[] {
  if (!Array.isArray(v)) throw malformed("pattern list is not an array");
  if (v.length > limits.maxPatternsPerFrame) {
    // Well-formed but past a configured bound: the documented limit error, not a malformed frame.
    throw new LimitExceededError(`one frame carries ${v.length} patterns, more than ${limits.maxPatternsPerFrame}`);
  }
  for (const p of v) {
    if (typeof p !== "string" || p.length === 0 || p.length > MAX_TOPIC_LENGTH) throw malformed("pattern is not a valid string");
  }
  return v as string[];
}

/** Turns one decoded MessagePack value into a typed frame, or throws a {@link ProtocolError}. */
export function toFrame(raw: unknown, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Frame {
  if (!Array.isArray(raw) || raw.length === 0) throw malformed("frame is not a non-empty array");
  const type: unknown = raw[0];
  if (typeof type !== "number" || !Number.isInteger(type)) throw malformed("frame type is not an integer");
  switch (type) {
    case FrameType.HELLO: {
      const [, version, role, id, nonce, key, maxFrameSize, auth] = raw;
      // The version comes first so that any other version is told so, whatever its layout.
      if (typeof version === "number" && version !== PROTOCOL_VERSION) {
        throw new ProtocolError(
          ErrorCode.PROTOCOL_VERSION,
          `protocol version ${version} is not supported (this side speaks ${PROTOCOL_VERSION})`,
        );
      }
      if (
        raw.length !== 8 ||
        version !== PROTOCOL_VERSION ||
        (role !== Role.DIALER && role !== Role.ACCEPTOR) ||
        !isShortString(id, 256) ||
        id.length === 0 ||
        !isBytes(nonce, 32, 32) ||
        !isBytes(key, 32, 32) ||
        !isSeq(maxFrameSize) ||
        typeof auth !== "boolean"
      ) {
        throw malformed("HELLO frame has the wrong shape");
      }
      return { type, version, role, id, nonce, key, maxFrameSize, auth };
    }
    case FrameType.AUTH: {
      const proof: unknown = raw[1];
      if (raw.length !== 2 || !isBytes(proof, 32, 32)) throw malformed("AUTH frame has the wrong shape");
      return { type, proof };
    }
    case FrameType.READY: {
      const [, instance, resume, received] = raw;
      if (
        raw.length !== 4 ||
        !isShortString(instance, 64) ||
        instance.length === 0 ||
        !(resume === null || isBytes(resume, 32, 32)) ||
        !isSeq(received)
      ) {
        throw malformed("READY frame has the wrong shape");
      }
      return { type, instance, resume, received };
    }
    case FrameType.MSG: {
      const [, seq, topic, data] = raw;
      if (raw.length !== 4 || !isSeq(seq) || typeof topic !== "string" || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
        throw malformed("MSG frame has the wrong shape");
      }
      return { type, seq, topic: peerTopic(topic), data };
    }
    case FrameType.SUB:
    case FrameType.UNSUB: {
      const seq: unknown = raw[1];
      if (raw.length !== 3 || !isSeq(seq)) throw malformed("SUB/UNSUB frame has the wrong shape");
      return { type, seq, patterns: patterns(raw[2], limits) };
    }
    case FrameType.ACK: {
      const seq: unknown = raw[1];
      if (raw.length !== 2 || !isSeq(seq)) throw malformed("ACK frame has the wrong shape");
      return { type, seq };
    }
    case FrameType.PING:
    case FrameType.PONG:
      if (raw.length !== 1) throw malformed("PING/PONG frame has the wrong shape");
      return { type };
    case FrameType.ERROR: {
      const [, code, message] = raw;
      if (raw.length !== 3 || !isShortString(code, 64) || !isShortString(message, 4096)) throw malformed("ERROR frame has the wrong shape");
      return { type, code, message };
    }
    case FrameType.BYE: {
      const reason: unknown = raw[1];
      if (raw.length !== 2 || !isShortString(reason, 256)) throw malformed("BYE frame has the wrong shape");
      return { type, reason };
    }
    default:
      throw new ProtocolError(ErrorCode.UNKNOWN_FRAME, `unknown frame type ${type}`);
  }
}

/**
 * A topic a peer sent, held to the rules `publish` applies (wildcards aside, `$sfn.` allowed:
 * adapters publish there): whitespace, control characters or empty tokens would otherwise reach
 * listeners' `meta.topic` and error messages (a newline in a topic forges log lines).
 */
function peerTopic(topic: string): string {
  try {
    assertTopic(topic, true);
  } catch (cause) {
    throw malformed(`message topic refused: ${(cause as Error).message}`, cause);
  }
  return topic;
}

/** What {@link decodeEach} found in one message. */
export interface DecodedFrames {
  /** The valid frames, in order, up to the first invalid one. */
  frames: Frame[];
  /** Byte offset just after the last frame decoded. */
  end: number;
  /** Why decoding stopped early, if it did; later bytes were not decoded. */
  error: ChannelError | undefined;
}

/**
 * Decodes the frames of one WebSocket message one at a time, at most `max` of them: the first
 * invalid frame stops decoding, so nothing after it is decoded. MSG frames in the encoder's own
 * layout at the start of the message are read by hand first (frame objects and payload views, no
 * copy); the allow-list scan of {@link checkValues} then covers the rest before msgpackr decodes
 * it, and if it refuses, none of the message's frames is handed on.
 */
export function decodeEach(
  decoder: Unpackr,
  data: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
  max = Infinity,
): DecodedFrames {
  const out: DecodedFrames = { frames: [], end: 0, error: undefined };
  if (data.length === 0) {
    out.error = malformed("empty message");
    return out;
  }
  // Open links carry mostly MSG frames with a `Buffer` payload, in the one layout the encoder
  // writes: read those by hand, up to the first frame of any other shape; msgpackr decodes the
  // rest as before (the guard scans only that rest: what is read here holds nothing to refuse).
  const start = max === Infinity ? readMessageFrames(data, out.frames, limits.values ?? DEFAULT_VALUE_LIMITS) : 0;
  out.end = start;
  if (start === data.length) return out;
  const rest = start === 0 ? data : data.subarray(start);
  try {
    checkValues(rest, limits.values ?? DEFAULT_VALUE_LIMITS);
    decoder.unpackMultiple(rest, (value: unknown, _start?: number, end = rest.length) => {
      out.frames.push(toFrame(value, limits));
      out.end = start + end;
      return out.frames.length < max;
    });
  } catch (cause) {
    // The guard (it runs before msgpackr) refuses the message as a whole: no frame of it is handed on.
    if (cause instanceof UnsafeValueError) {
      out.frames.length = 0;
      out.end = 0;
    }
    if (cause instanceof ChannelError) out.error = cause;
    else if (cause instanceof UnsafeValueError) out.error = malformed(`message refused: ${cause.message}`, cause);
    else out.error = malformed(`message is not valid MessagePack: ${(cause as Error)?.message ?? String(cause)}`, cause);
  }
  return out;
}

// Topics of received MSG frames, decoded once: a direct-mapped cache on the topic's bytes. The
// same string object each time also keeps its hash, so the subscription lookup by topic is cheaper.
const TOPIC_SLOTS = 256;
const topicBytes: (Uint8Array | undefined)[] = new Array(TOPIC_SLOTS);
const topicStrings: string[] = new Array(TOPIC_SLOTS);

/** The ASCII topic in `data[from, to)`, or undefined if a byte is outside ASCII (msgpackr decodes that one). */
function asciiTopic(data: Buffer, from: number, to: number): string | undefined {
  const n = to - from;
  const slot = (n * 31 + (data[from] as number) * 7 + (data[to - 1] as number) * 3 + (data[from + (n >> 1)] as number)) & (TOPIC_SLOTS - 1);
  const known = topicBytes[slot];
  if (known !== undefined && known.length === n) {
    let i = 0;
    while (i < n && known[i] === data[from + i]) i++;
    if (i === n) return topicStrings[slot];
  }
  for (let i = from; i < to; i++) if ((data[i] as number) > 0x7f) return undefined;
  const s = data.toString("latin1", from, to);
  // Checked once per topic that enters the cache; an invalid one is left to msgpackr and
  // toFrame, which refuse it with a reason.
  try {
    assertTopic(s, true);
  } catch {
    return undefined;
  }
  // A copy (Buffer#slice would be a view that keeps the whole received message alive).
  topicBytes[slot] = Uint8Array.prototype.slice.call(data, from, to);
  topicStrings[slot] = s;
  return s;
}

/**
 * Reads MSG frames laid out as the encoder writes them (`94 04 ce <seq> <ASCII str topic>
 * <payload>`) from the start of `data` into `frames`, stopping at the first frame of any other
 * shape, and returns the offset where it stopped; msgpackr and the allow-list take the rest. A
 * bin payload is a view of `data`, as msgpackr gives it; any other payload goes through
 * {@link readValue}, which gives exactly what the allow-list and msgpackr would, or gives up.
 * Record definitions live for the whole message, as in msgpackr's `unpackMultiple`: where the
 * reader gives up after frames that defined records, those frames are left to msgpackr too, so
 * that it sees every definition the rest may refer to (and the allow-list every record shape).
 */
function readMessageFrames(data: Uint8Array, frames: Frame[], values: ValueLimits): number {
  // msgpackr gives a plain Uint8Array's bins as Uint8Arrays: those messages stay with it.
  if (!Buffer.isBuffer(data)) return 0;
  const buf = data;
  const len = data.length;
  const memory = buf.buffer;
  const base = buf.byteOffset;
  let at = 0;
  // The first frame whose payload defined a record, and where it starts.
  let firstRecordFrame = -1;
  let firstRecordAt = 0;
  let begun = false;
  while (at + 10 <= len && data[at] === 0x94 && data[at + 1] === FrameType.MSG && data[at + 2] === 0xce) {
    const seq =
      (data[at + 3] as number) * 0x1000000 +
      (((data[at + 4] as number) << 16) | ((data[at + 5] as number) << 8) | (data[at + 6] as number));
    let p = at + 7;
    const t = data[p] as number;
    let topicLength: number;
    if (t >= 0xa1 && t <= 0xbf) {
      topicLength = t & 0x1f;
      p += 1;
    } else if (t === 0xd9 && p + 1 < len) {
      topicLength = data[p + 1] as number;
      p += 2;
    } else if (t === 0xda && p + 2 < len) {
      topicLength = ((data[p + 1] as number) << 8) | (data[p + 2] as number);
      p += 3;
    } else break;
    const topicEnd = p + topicLength;
    if (topicLength === 0 || topicLength > MAX_TOPIC_LENGTH || topicEnd >= len) break;
    const b = data[topicEnd] as number;
    let size = -1;
    let dataStart = 0;
    if (b === 0xc4 && topicEnd + 2 <= len) {
      size = data[topicEnd + 1] as number;
      dataStart = topicEnd + 2;
    } else if (b === 0xc5 && topicEnd + 3 <= len) {
      size = ((data[topicEnd + 1] as number) << 8) | (data[topicEnd + 2] as number);
      dataStart = topicEnd + 3;
    } else if (b === 0xc6 && topicEnd + 5 <= len) {
      size =
        (data[topicEnd + 1] as number) * 0x1000000 +
        (((data[topicEnd + 2] as number) << 16) | ((data[topicEnd + 3] as number) << 8) | (data[topicEnd + 4] as number));
      dataStart = topicEnd + 5;
    }
    if (size >= 0) {
      if (dataStart + size > len) break;
      const topic = asciiTopic(buf, p, topicEnd);
      if (topic === undefined) break;
      // A view like `subarray`'s, without its species lookup (a getter call): ~20 ns a payload.
      frames.push({ type: FrameType.MSG, seq, topic, data: Buffer.from(memory, base + dataStart, size) });
      at = dataStart + size;
      continue;
    }
    const topic = asciiTopic(buf, p, topicEnd);
    if (topic === undefined) break;
    if (!begun) {
      beginValues(values);
      begun = true;
    }
    const defined = definitionsRead();
    let value: unknown;
    try {
      // The payload is an element of the frame's array: the allow-list scan counts it one deep.
      beginFrame();
      value = readValue(buf, topicEnd, len, 1);
    } catch {
      // Unread, or anything unforeseen: the guarded decoder takes these bytes and reports them.
      break;
    }
    if (firstRecordFrame < 0 && definitionsRead() > defined) {
      firstRecordFrame = frames.length;
      firstRecordAt = at;
    }
    frames.push({ type: FrameType.MSG, seq, topic, data: value });
    at = readEnd();
  }
  if (at < len && firstRecordFrame >= 0) {
    frames.length = firstRecordFrame;
    return firstRecordAt;
  }
  return at;
}

/** A message as a router received it: the topic it was published on, and its payload. */
export interface MessageBody {
  topic: string;
  data: unknown;
}

// Message bodies carry no state between them (each packs its own record definitions), so one
// decoder serves every body a router receives.
let bodyDecoder: Unpackr | undefined;

/**
 * Decodes a body made by {@link encodeMessageBody} (for routers that carry bodies themselves),
 * under the same guard as a peer's frames: the value allow-list runs before msgpackr does.
 * Throws a {@link ProtocolError} for anything else; a router drops such a message and reports it.
 */
export function decodeMessageBody(body: Uint8Array, limits: ValueLimits = DEFAULT_VALUE_LIMITS): MessageBody {
  if (body.length === 0) throw malformed("empty message body");
  const binary = binaryMessageBody(body);
  if (binary) return binary;
  const plain = plainMessageBody(body, limits);
  if (plain) return plain;
  const values = guardedValues(body, limits, "body");
  const [topic, data] = values;
  if (values.length !== 2 || typeof topic !== "string" || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw malformed("message body has the wrong shape");
  }
  return { topic: peerTopic(topic), data };
}

/** Every value of `bytes`, through the allow-list and then msgpackr; a ProtocolError naming `what` otherwise. */
function guardedValues(bytes: Uint8Array, limits: ValueLimits, what: "body" | "payload"): unknown[] {
  try {
    checkValues(bytes, limits);
    bodyDecoder ??= createDecoder();
    return bodyDecoder.unpackMultiple(bytes) as unknown[];
  } catch (cause) {
    if (cause instanceof UnsafeValueError) throw malformed(`message ${what} refused: ${cause.message}`, cause);
    throw malformed(`message ${what} is not valid MessagePack: ${(cause as Error)?.message ?? String(cause)}`, cause);
  }
}

/**
 * The body a `Buffer` payload makes (`encodeMessageBody`'s fast path): a str topic, then a bin
 * that ends exactly where the body ends. Read directly, as msgpackr would (the data a view of
 * `body`): a str and a bin carry no extension, record or nesting, so the value guard has nothing
 * to refuse in them. Any other shape: undefined, and the guarded decoder runs.
 */
function binaryMessageBody(body: Uint8Array): MessageBody | undefined {
  const topicEnd = topicEndOf(body);
  if (topicEnd < 0) return undefined;
  const at = topicAt;
  const data = binaryData(body, topicEnd);
  if (data === undefined) return undefined;
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.length);
  const topic = bytes.toString("utf8", at, topicEnd);
  if (topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) return undefined;
  return { topic: peerTopic(topic), data };
}

/**
 * A bin that starts at `at` and ends exactly where `bytes` ends, as a view of `bytes` (as
 * msgpackr decodes it); undefined for anything else. A bin carries no extension, record or
 * nesting: the value guard has nothing to refuse in it.
 */
function binaryData(bytes: Uint8Array, at: number): Uint8Array | undefined {
  if (at + 2 > bytes.length) return undefined;
  const mark = bytes[at];
  let start: number;
  let size: number;
  if (mark === 0xc4) {
    start = at + 2;
    size = bytes[at + 1] as number;
  } else if (mark === 0xc5 && at + 3 <= bytes.length) {
    start = at + 3;
    size = ((bytes[at + 1] as number) << 8) | (bytes[at + 2] as number);
  } else if (mark === 0xc6 && at + 5 <= bytes.length) {
    start = at + 5;
    size =
      (bytes[at + 1] as number) * 0x1000000 +
      (bytes[at + 2] as number) * 0x10000 +
      (bytes[at + 3] as number) * 0x100 +
      (bytes[at + 4] as number);
  } else return undefined;
  if (start + size !== bytes.length) return undefined;
  return bytes.subarray(start);
}

/**
 * Decodes a payload sent without its topic ({@link encodeMessageData}), starting at `start` in `bytes`, under the same guard as {@link decodeMessageBody}: a
 * `Buffer` payload (a bin that ends exactly at the end) is read directly as a view of `bytes`,
 * anything else goes through the value allow-list, then msgpackr, and must be exactly one value.
 * Throws a {@link ProtocolError} (`ERR_MALFORMED_FRAME`) otherwise.
 */
export function decodeMessageData(bytes: Uint8Array, start = 0, limits: ValueLimits = DEFAULT_VALUE_LIMITS): unknown {
  if (!(start >= 0 && start < bytes.length)) throw malformed("empty message payload");
  const binary = binaryData(bytes, start);
  if (binary !== undefined) return binary;
  const plain = plainData(bytes, start, limits);
  if (plain !== UNREAD) return plain;
  const values = guardedValues(start === 0 ? bytes : bytes.subarray(start), limits, "payload");
  if (values.length !== 1) throw malformed("message payload is not exactly one value");
  return values[0];
}

/**
 * A body with an ASCII str topic and a plain-data payload, read by {@link readValue}: exactly what
 * the guarded decoder would give, or undefined where the reader gives up (the guarded decoder
 * then runs and reports what is wrong).
 */
function plainMessageBody(body: Uint8Array, limits: ValueLimits): MessageBody | undefined {
  if (!Buffer.isBuffer(body)) return undefined;
  const topicEnd = topicEndOf(body);
  if (topicEnd < 0 || topicEnd >= body.length || topicEnd - topicAt > MAX_TOPIC_LENGTH) return undefined;
  const topic = asciiTopic(body, topicAt, topicEnd);
  if (topic === undefined) return undefined;
  // A body is two values at the top level (the guard scans it from depth 0), not a frame array.
  const data = plainData(body, topicEnd, limits);
  return data === UNREAD ? undefined : { topic, data };
}

// Where the str topic of the last body given to topicEndOf starts.
let topicAt = 0;

/** The end of a body's str topic (fixstr or str8; its start in {@link topicAt}), or -1. */
function topicEndOf(body: Uint8Array): number {
  const first = body[0] as number;
  if (first >= 0xa1 && first <= 0xbf) {
    topicAt = 1;
    return 1 + (first & 0x1f);
  }
  if (first === 0xd9 && body.length > 2) {
    topicAt = 2;
    return 2 + (body[1] as number);
  }
  return -1;
}

// What plainData returns where the one-pass reader gives up (a payload may well be undefined).
const UNREAD = Symbol("unread");

/**
 * A plain-data payload from `start` to the end, read by {@link readValue} as
 * {@link plainMessageBody} reads a body's: exactly what the guarded decoder would give, or
 * {@link UNREAD} where the reader gives up (the guarded decoder then runs and reports what is wrong).
 */
function plainData(bytes: Uint8Array, start: number, limits: ValueLimits): unknown {
  if (!Buffer.isBuffer(bytes)) return UNREAD;
  beginValues(limits);
  try {
    // One value at the top level (the guard scans it from depth 0).
    const data = readValue(bytes, start, bytes.length, 0);
    return readEnd() === bytes.length ? data : UNREAD;
  } catch {
    return UNREAD;
  }
}

/** Decodes every frame of one WebSocket message; any invalid byte fails the whole message. */
export function decodeFrames(decoder: Unpackr, data: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Frame[] {
  if (data.length === 0) throw malformed("empty message");
  let values: unknown[];
  try {
    checkValues(data, limits.values ?? DEFAULT_VALUE_LIMITS);
    values = decoder.unpackMultiple(data) as unknown[];
  } catch (cause) {
    if (cause instanceof UnsafeValueError) throw malformed(`message refused: ${cause.message}`, cause);
    throw malformed(`message is not valid MessagePack: ${(cause as Error)?.message ?? String(cause)}`, cause);
  }
  const frames: Frame[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) frames[i] = toFrame(values[i], limits);
  return frames;
}
