/*
 * The allow-list of what a peer's bytes may contain, checked on the raw MessagePack before
 * msgpackr builds a single object. msgpackr's extension table is module-global (any code in
 * the process can `addExtension`) and its decoder enables every built-in extension unless an
 * option says otherwise, so this module does not trust decoder options: it walks the bytes.
 *
 * Allowed: every standard MessagePack type except the never-used byte 0xc1, and these
 * extensions, in exactly the forms msgpackr's encoder writes them with the codec's options:
 *
 * | ext type | form | value |
 * |---|---|---|
 * | 0x00 | fixext1 | `undefined` |
 * | 0xff (-1) | fixext1 (invalid date), fixext4, fixext8, ext8 of 12 bytes | `Date` |
 * | 0x72 "r" | fixext1 `d4 72 id`, then an array of string keys, then the values | record (a plain object) |
 * | 0x73 "s" | fixext1 `d4 73 00`, then an array | `Set` |
 * | 0x74 "t" | ext of 1 type byte (typed array kinds 0-10, ArrayBuffer 16, DataView 17) + bytes | typed array |
 * | 0x42 "B" | any ext form, at most {@link ValueLimits.maxBigIntBytes} bytes | `bigint` past 64 bits |
 *
 * Refused: structured-clone references (0x69/0x70: a few hundred bytes can stand for
 * megabytes of shared graph), `Error` (0x65), `RegExp` (0x78), bundled strings (0x62),
 * two-byte record ids (`d5 72`), every other extension type, nesting past
 * {@link ValueLimits.maxDepth}, and more "hot" record definitions per top-level value than
 * {@link ValueLimits.maxRecordShapeCost} allows (msgpackr compiles a function for every record
 * definition read four times, even one that repeats an earlier shape, so many of them cost far
 * more CPU per byte than plain data).
 */

/** Bounds of what one WebSocket message (or one encoded payload) may contain. */
export interface ValueLimits {
  /** Deepest nesting of arrays, maps, records and sets. */
  maxDepth: number;
  /** Largest bigint extension, in bytes (8 bits each, two's complement). */
  maxBigIntBytes: number;
  /** Budget for the record readers msgpackr compiles, per top-level value (a frame, a payload): each hot definition costs 16 plus its key count. */
  maxRecordShapeCost: number;
}

/** Default bounds: 128 levels, bigints of 128 bytes (−2^1023 to 2^1023−1), about 1,000 compiled record shapes. */
export const DEFAULT_VALUE_LIMITS: ValueLimits = { maxDepth: 128, maxBigIntBytes: 128, maxRecordShapeCost: 16_384 };

/** A value outside the allow-list. */
export class UnsafeValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeValueError";
  }
}

const EXT_UNDEFINED = 0x00;
const EXT_DATE = 0xff;
const EXT_RECORD = 0x72;
const EXT_SET = 0x73;
const EXT_TYPED = 0x74;
const EXT_BIGINT = 0x42;
/** msgpackr's read counter compiles a record reader on a shape's fourth read. */
export const HOT_READS = 4;
/** What a compiled shape costs of {@link ValueLimits.maxRecordShapeCost}, besides one per key. */
export const SHAPE_OVERHEAD = 16;

const REFUSED: Readonly<Record<number, string>> = {
  0x69: "a structured-clone reference",
  0x70: "a structured-clone reference",
  0x65: "an Error",
  0x78: "a RegExp",
  0x62: "bundled strings",
};

function describe(type: number): string {
  return REFUSED[type] ?? `extension type ${type}`;
}

// The scan is synchronous and never re-entered, so its state lives here and nothing is
// allocated per call (this runs on every received message and every object payload sent).
const EMPTY = new Uint8Array(0);
let src: Uint8Array = EMPTY;
let pos = 0;
let end = 0;
let limits: ValueLimits = DEFAULT_VALUE_LIMITS;
// Per record id (0x40-0x7f), valid where `generation` matches: key count, reads, key bytes.
const definedIn = new Uint32Array(64);
const keyCount = new Int32Array(64);
const reads = new Int32Array(64);
let generation = 0;
let shapeBudget = 0;

function fail(message: string): never {
  throw new UnsafeValueError(message);
}

function need(n: number): void {
  if (pos + n > end) fail("value runs past the end of the message");
}

function u8(): number {
  need(1);
  return src[pos++]!;
}

function u16(): number {
  need(2);
  const v = (src[pos]! << 8) | src[pos + 1]!;
  pos += 2;
  return v;
}

function u32(): number {
  need(4);
  const v = src[pos]! * 0x1000000 + ((src[pos + 1]! << 16) | (src[pos + 2]! << 8) | src[pos + 3]!);
  pos += 4;
  return v;
}

function skip(n: number): void {
  need(n);
  pos += n;
}

function noteRead(id: number): void {
  if (++reads[id]! !== HOT_READS) return;
  shapeBudget -= SHAPE_OVERHEAD + keyCount[id]!;
  if (shapeBudget < 0) fail(`too many record shapes to compile in one value (budget ${limits.maxRecordShapeCost})`);
}

function values(n: number, depth: number): void {
  if (n > end - pos) fail("container claims more elements than the message has bytes");
  for (let i = 0; i < n; i++) value(depth);
}

function arrayLength(): number {
  const t = u8();
  if (t >= 0x90 && t <= 0x9f) return t - 0x90;
  if (t === 0xdc) return u16();
  if (t === 0xdd) return u32();
  return fail("expected an array");
}

function recordDefinition(depth: number): void {
  const id = u8() & 0x3f;
  const n = arrayLength();
  if (n > end - pos) fail("record definition claims more keys than the message has bytes");
  for (let i = 0; i < n; i++) {
    const t = u8();
    if (t >= 0xa0 && t <= 0xbf) skip(t - 0xa0);
    else if (t === 0xd9) skip(u8());
    else if (t === 0xda) skip(u16());
    else if (t === 0xdb) skip(u32());
    else fail("record keys must be strings");
  }
  definedIn[id] = generation;
  keyCount[id] = n;
  reads[id] = 0;
  noteRead(id);
  values(n, depth + 1);
}

function ext(length: number, type: number): void {
  if (type === EXT_BIGINT) {
    if (length < 1 || length > limits.maxBigIntBytes) fail(`bigint of ${length} bytes (at most ${limits.maxBigIntBytes})`);
  } else if (type === EXT_TYPED) {
    need(length);
    const kind = length > 0 ? src[pos]! : -1;
    if (!((kind >= 0 && kind <= 10) || kind === 16 || kind === 17)) fail(`typed array of unknown kind ${kind}`);
  } else if (type === EXT_DATE) {
    if (length !== 4 && length !== 8 && length !== 12) fail(`timestamp of ${length} bytes`);
  } else {
    fail(`${describe(type)} is not allowed in a payload`);
  }
  skip(length);
}

function value(depth: number): void {
  if (depth > limits.maxDepth) fail(`nesting deeper than ${limits.maxDepth}`);
  const t = u8();
  if (t < 0x40) return;
  if (t < 0x80) {
    const id = t & 0x3f;
    if (definedIn[id] !== generation) return; // a positive fixint
    noteRead(id);
    values(keyCount[id]!, depth + 1);
    return;
  }
  if (t < 0x90) return values(2 * (t - 0x80), depth + 1);
  if (t < 0xa0) return values(t - 0x90, depth + 1);
  if (t < 0xc0) return skip(t - 0xa0);
  if (t >= 0xe0) return;
  switch (t) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return;
    case 0xc1:
      return fail("the never-used byte 0xc1");
    case 0xc4:
      return skip(u8());
    case 0xc5:
      return skip(u16());
    case 0xc6:
      return skip(u32());
    case 0xc7: {
      const n = u8();
      return ext(n, u8());
    }
    case 0xc8: {
      const n = u16();
      return ext(n, u8());
    }
    case 0xc9: {
      const n = u32();
      return ext(n, u8());
    }
    case 0xca:
      return skip(4);
    case 0xcb:
      return skip(8);
    case 0xcc:
    case 0xd0:
      return skip(1);
    case 0xcd:
    case 0xd1:
      return skip(2);
    case 0xce:
    case 0xd2:
      return skip(4);
    case 0xcf:
    case 0xd3:
      return skip(8);
    case 0xd4: {
      const type = u8();
      if (type === EXT_RECORD) return recordDefinition(depth);
      if (type === EXT_SET) {
        skip(1);
        return values(arrayLength(), depth + 1);
      }
      if (type === EXT_UNDEFINED || type === EXT_DATE) return skip(1);
      return ext(1, type);
    }
    case 0xd5: {
      const type = u8();
      if (type === EXT_RECORD) return fail("two-byte record ids are not allowed");
      return ext(2, type);
    }
    case 0xd6:
      return ext(4, u8());
    case 0xd7:
      return ext(8, u8());
    case 0xd8:
      return ext(16, u8());
    case 0xd9:
      return skip(u8());
    case 0xda:
      return skip(u16());
    case 0xdb:
      return skip(u32());
    case 0xdc:
      return values(u16(), depth + 1);
    case 0xdd:
      return values(u32(), depth + 1);
    case 0xde:
      return values(2 * u16(), depth + 1);
    default: // 0xdf
      return values(2 * u32(), depth + 1);
  }
}

/**
 * Throws {@link UnsafeValueError} unless `bytes[start, stop)` is a sequence of complete
 * MessagePack values inside the allow-list, each nested `depth` deep (0: top-level values, such
 * as a message's frames; a frame's elements are at depth 1). Record definitions live for the
 * whole sequence, as they do for msgpackr's `unpackMultiple`.
 */
export function checkValues(
  bytes: Uint8Array,
  valueLimits: ValueLimits = DEFAULT_VALUE_LIMITS,
  start = 0,
  stop = bytes.length,
  depth = 0,
): void {
  src = bytes;
  pos = start;
  end = stop;
  limits = valueLimits;
  // A new generation forgets every record definition of the previous call at once.
  if (++generation > 0xfffffff0) {
    generation = 1;
    definedIn.fill(0);
  }
  try {
    while (pos < end) {
      // The shape budget is per top-level value (a frame of a message, or a payload at publish):
      // a sender batches frames that each passed this check into one message, which must pass too.
      shapeBudget = valueLimits.maxRecordShapeCost;
      value(depth);
    }
  } finally {
    src = EMPTY;
  }
}
