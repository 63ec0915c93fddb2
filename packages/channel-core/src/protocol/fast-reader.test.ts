import { inspect } from "node:util";
import fc from "fast-check";
import { createDecoder, packValue } from "./codec.js";
import { Unread, beginValues, readEnd, readValue } from "./fast-reader.js";
import { DEFAULT_VALUE_LIMITS } from "./value-guard.js";

/** The fast reader's result for one packed value, or Unread where it gives up. */
function fast(bytes: Buffer): unknown {
  beginValues();
  try {
    const value = readValue(bytes, 0, bytes.length, 0);
    expect(readEnd()).toBe(bytes.length);
    return value;
  } catch (e) {
    if (e === Unread) return Unread;
    throw e;
  }
}

const same = (a: unknown, b: unknown): void => expect(inspect(a, { depth: null })).toBe(inspect(b, { depth: null }));

// What the reader takes on itself: the values plain objects, arrays, Maps, strings and numbers make.
const plain = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.double({ noNaN: false }),
    fc.string({ unit: "binary" }),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("value"), { maxKeys: 5 }),
    fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 3 }).map((e) => new Map(e)),
  ),
})).value;

describe("fast reader", () => {
  it("reads every plain value itself, exactly as msgpackr reads it", () => {
    fc.assert(
      fc.property(plain, (v) => {
        const bytes = packValue(v);
        const got = fast(bytes);
        expect(got).not.toBe(Unread);
        same(got, createDecoder().unpack(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it("reads repeated record shapes, and renames a __proto__ key as msgpackr does", () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ id: i, name: `n${i}`, nested: { ok: i % 2 === 0 } }));
    same(fast(packValue(rows)), rows);
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;
    const got = fast(packValue(hostile)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    same(got, createDecoder().unpack(packValue(hostile)));
  });

  it.each([
    ["a Date", new Date(0)],
    ["a Set", new Set([1])],
    ["a bigint", 5n],
    ["a float32 array", Buffer.from("c70574070000803f", "hex")],
    ["malformed UTF-8", Buffer.from([0xa2, 0xc3, 0x28])],
    ["a truncated array", Buffer.from([0x93, 0x01])],
    ["the never-used byte", Buffer.from([0xc1])],
  ])("leaves %s to msgpackr and the allow-list", (_name, v) => {
    expect(fast(Buffer.isBuffer(v) ? v : packValue(v))).toBe(Unread);
  });

  it("gives up past the allow-list's depth, so that the scan refuses it with its reason", () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
    expect(fast(packValue(nest(DEFAULT_VALUE_LIMITS.maxDepth)))).not.toBe(Unread);
    expect(fast(packValue(nest(DEFAULT_VALUE_LIMITS.maxDepth + 1)))).toBe(Unread);
  });

  it("allocates for the elements a message holds, not for the lengths its arrays claim", () => {
    // 127 arrays, each the first element of the one before, each claiming 65,535 elements: every
    // claim fits in the bytes left, and only the innermost array is there (the rest is cut short).
    const n = 0xffff;
    const bytes = Buffer.concat([...Array.from({ length: 127 }, () => Buffer.from([0xdc, n >> 8, n & 0xff])), Buffer.alloc(n, 1)]);
    const slots: number[] = [];
    const RealArray = globalThis.Array;
    globalThis.Array = new Proxy(RealArray, {
      construct(target, args, newTarget) {
        if (typeof args[0] === "number") slots.push(args[0]);
        return Reflect.construct(target, args, newTarget);
      },
    });
    let got: unknown;
    try {
      got = fast(bytes);
    } finally {
      globalThis.Array = RealArray;
    }
    expect(got).toBe(Unread);
    expect(slots.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(bytes.length);
  });
});
