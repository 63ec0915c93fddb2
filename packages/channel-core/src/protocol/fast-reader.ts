/*
 * A reader for the payloads the encoder writes most: nil, booleans, integers up to 32 bits,
 * float64, UTF-8 strings, bins, arrays, maps, `undefined` and records (plain objects), in one
 * pass that applies the allow-list's bounds as it goes. It gives exactly what the allow-list
 * scan plus msgpackr would give for the same bytes, or gives up ({@link Unread}) and leaves the
 * bytes to them: on anything else (float32, 64-bit integers, dates, sets, typed arrays, bigints,
 * any other extension, malformed or truncated input, a string that is not valid UTF-8) and on
 * anything the allow-list would refuse (so that the scan reports it, with its reason).
 *
 * Why: msgpackr's record mode costs a definition object, an uncompiled reader per message
 * (each body defines its records anew) and a native string extraction per message; a link that
 * receives one small object per WebSocket message paid ~15 µs of CPU for it, more than the
 * whole Redis adapter hop it replaces.
 */
import { Buffer, isUtf8 } from "node:buffer";
import { DEFAULT_VALUE_LIMITS, HOT_READS, SHAPE_OVERHEAD, type ValueLimits } from "./value-guard.js";

/** Thrown (one shared instance) where this reader gives up; the caller decodes the bytes the usual way. */
export const Unread: unique symbol = Symbol("unread");

let src: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;
let limits: ValueLimits = DEFAULT_VALUE_LIMITS;
// Record definitions, per id (0x40-0x7f), valid where `definedIn` matches `generation`: one
// generation per sequence of values (a WebSocket message), as for msgpackr's `unpackMultiple`.
const definedIn = new Uint32Array(64);
const keysOf: string[][] = new Array(64);
const reads = new Int32Array(64);
let generation = 0;
let shapeBudget = 0;
let definitions = 0;

/** Starts a sequence of values (one message): forgets record definitions, resets the bounds. */
export function beginValues(valueLimits: ValueLimits = DEFAULT_VALUE_LIMITS): void {
  limits = valueLimits;
  shapeBudget = valueLimits.maxRecordShapeCost;
  definitions = 0;
  if (++generation > 0xfffffff0) {
    generation = 1;
    definedIn.fill(0);
  }
}

/** Starts one top-level value (a frame): the budget for record shapes is per frame, as the allow-list's. */
export function beginFrame(): void {
  shapeBudget = limits.maxRecordShapeCost;
}

/** Record definitions read since {@link beginValues}. */
export function definitionsRead(): number {
  return definitions;
}

/** Where the last {@link readValue} ended. */
export function readEnd(): number {
  return pos;
}

/**
 * Reads one value of `buf` at `at` (not past `stop`), nested `depth` deep (as the allow-list
 * counts it: an element of a top-level array is at depth 1); {@link readEnd} is then just after
 * it. Throws {@link Unread} where it gives up. Never re-entered; nothing outlives the call but the
 * record definitions of the current sequence.
 */
export function readValue(buf: Buffer, at: number, stop: number, depth: number): unknown {
  src = buf;
  pos = at;
  end = stop;
  try {
    return read(depth);
  } finally {
    src = EMPTY;
  }
}

const EMPTY = Buffer.alloc(0);

function give(): never {
  throw Unread;
}

function u8(): number {
  if (pos >= end) give();
  return src[pos++] as number;
}

function u16(): number {
  if (pos + 2 > end) give();
  const v = ((src[pos] as number) << 8) | (src[pos + 1] as number);
  pos += 2;
  return v;
}

function u32(): number {
  if (pos + 4 > end) give();
  const v =
    (src[pos] as number) * 0x1000000 + (((src[pos + 1] as number) << 16) | ((src[pos + 2] as number) << 8) | (src[pos + 3] as number));
  pos += 4;
  return v;
}

function str(n: number): string {
  const from = pos;
  const to = pos + n;
  if (to > end) give();
  pos = to;
  for (let i = from; i < to; i++) {
    if ((src[i] as number) > 0x7f) {
      // msgpackr's own string readers disagree on malformed UTF-8; leave those bytes to it.
      if (!isUtf8(src.subarray(from, to))) give();
      return src.toString("utf8", from, to);
    }
  }
  return src.toString("latin1", from, to);
}

function bin(n: number): Buffer {
  const from = pos;
  if (from + n > end) give();
  pos = from + n;
  return src.subarray(from, pos);
}

// Arrays longer than this grow as their elements are read: a declared length is only a claim,
// and arrays nested in each other's first element could each claim the rest of the message
// (128 levels of 65,535 slots from a 66 KB message), before the reader finds it truncated.
const PREALLOCATED = 64;

function array(n: number, depth: number): unknown[] {
  if (n > end - pos) give();
  const out: unknown[] = n <= PREALLOCATED ? new Array<unknown>(n) : [];
  for (let i = 0; i < n; i++) out[i] = read(depth);
  return out;
}

function map(n: number, depth: number): Map<unknown, unknown> {
  if (2 * n > end - pos) give();
  const out = new Map<unknown, unknown>();
  for (let i = 0; i < n; i++) {
    const key = read(depth);
    out.set(key, read(depth));
  }
  return out;
}

/** One more read of record `id`'s shape; the allow-list's budget for shapes msgpackr would compile. */
function noteRead(id: number): void {
  if (++(reads[id] as number) !== HOT_READS) return;
  shapeBudget -= SHAPE_OVERHEAD + (keysOf[id] as string[]).length;
  if (shapeBudget < 0) give();
}

function record(id: number, depth: number): Record<string, unknown> {
  noteRead(id);
  const keys = keysOf[id] as string[];
  if (keys.length > end - pos) give();
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) out[keys[i] as string] = read(depth + 1);
  return out;
}

// Key lists of record definitions seen before, by their bytes (a direct-mapped cache): every body
// defines its records anew, mostly the same few shapes, and the same key strings each time are
// also cheaper property keys than fresh ones.
const SHAPE_SLOTS = 256;
const MAX_CACHED_SHAPE = 512;
const shapeBytes: (Uint8Array | undefined)[] = new Array(SHAPE_SLOTS);
const shapeKeys: string[][] = new Array(SHAPE_SLOTS);

function recordDefinition(depth: number): Record<string, unknown> {
  const id = u8() & 0x3f;
  const at = pos;
  const t = u8();
  const n = t >= 0x90 && t <= 0x9f ? t - 0x90 : t === 0xdc ? u16() : t === 0xdd ? u32() : give();
  if (n > end - pos) give();
  const keys = knownKeys(at) ?? readKeys(n, at);
  definedIn[id] = generation;
  keysOf[id] = keys;
  reads[id] = 0;
  definitions++;
  return record(id, depth);
}

/** The key list of a definition at `at` seen before (and `pos` moved past it), if any. */
/** The cache slot of the definition at `at` (from its first four bytes; bytes past the end count as 0). */
function shapeSlot(at: number): number {
  return (
    ((src[at] as number) * 31 + (src[at + 1] as number) * 7 + (src[at + 2] as number) * 3 + (src[at + 3] as number)) & (SHAPE_SLOTS - 1)
  );
}

function knownKeys(at: number): string[] | undefined {
  const slot = shapeSlot(at);
  const known = shapeBytes[slot];
  if (known === undefined || at + known.length > end) return undefined;
  for (let i = 0; i < known.length; i++) if (known[i] !== src[at + i]) return undefined;
  pos = at + known.length;
  return shapeKeys[slot];
}

function readKeys(n: number, at: number): string[] {
  const keys = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const k = u8();
    const key =
      k >= 0xa0 && k <= 0xbf ? str(k - 0xa0) : k === 0xd9 ? str(u8()) : k === 0xda ? str(u16()) : k === 0xdb ? str(u32()) : give();
    // As msgpackr does: a "__proto__" key is renamed, never applied to the object's prototype.
    keys[i] = key === "__proto__" ? "__proto_" : key;
  }
  if (pos - at <= MAX_CACHED_SHAPE) {
    const slot = shapeSlot(at);
    // A copy: a view would keep the whole received message alive.
    shapeBytes[slot] = Uint8Array.prototype.slice.call(src, at, pos);
    shapeKeys[slot] = keys;
  }
  return keys;
}

function read(depth: number): unknown {
  if (depth > limits.maxDepth) give();
  const t = u8();
  if (t < 0x40) return t;
  if (t < 0x80) {
    const id = t & 0x3f;
    return definedIn[id] === generation ? record(id, depth) : t;
  }
  if (t < 0x90) return map(t - 0x80, depth + 1);
  if (t < 0xa0) return array(t - 0x90, depth + 1);
  if (t < 0xc0) return str(t - 0xa0);
  if (t >= 0xe0) return t - 0x100;
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return bin(u8());
    case 0xc5:
      return bin(u16());
    case 0xc6:
      return bin(u32());
    case 0xcb: {
      if (pos + 8 > end) give();
      const v = src.readDoubleBE(pos);
      pos += 8;
      return v;
    }
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xd0:
      return (u8() << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xd4: {
      const type = u8();
      if (type === 0x72) return recordDefinition(depth);
      if (type !== 0x00) give();
      u8();
      return undefined;
    }
    case 0xd9:
      return str(u8());
    case 0xda:
      return str(u16());
    case 0xdb:
      return str(u32());
    case 0xdc:
      return array(u16(), depth + 1);
    case 0xdd:
      return array(u32(), depth + 1);
    case 0xde:
      return map(u16(), depth + 1);
    case 0xdf:
      return map(u32(), depth + 1);
    default:
      return give();
  }
}
