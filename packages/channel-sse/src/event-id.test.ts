import fc from "fast-check";
import { claimedClient, EventIds, MAX_CLIENT_ID_BYTES, MAX_EVENT_ID_LENGTH, newClientId } from "./event-id.js";

const key = "0123456789abcdef0123456789abcdef";

describe("event ids with a signed client id", () => {
  it("round-trips any client id (dots, spaces, non-ASCII) through an ASCII event id", () => {
    const ids = new EventIds(key);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80, unit: "grapheme" }), fc.nat(), (client, n) => {
        const id = ids.format(n, ids.suffix(client));
        expect(id).toMatch(/^[A-Za-z0-9]+\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}$/);
        expect(ids.verify(id)).toEqual({ epoch: ids.epoch, n, client });
      }),
      { numRuns: 500 },
    );
  });

  it("accepts ids from another instance only if it shares the key", () => {
    const a = new EventIds(key);
    const sameKey = new EventIds(Buffer.from(key));
    const otherKey = new EventIds();
    const id = a.format(7, a.suffix("alice"));
    expect(sameKey.verify(id)).toEqual({ epoch: a.epoch, n: 7, client: "alice" });
    expect(sameKey.epoch).not.toBe(a.epoch);
    expect(otherKey.verify(id)).toBeUndefined();
    // The default key is random per instance.
    expect(new EventIds().verify(otherKey.format(1, otherKey.suffix("x")))).toBeUndefined();
  });

  it("refuses a tampered client id, tag, number or layout", () => {
    const ids = new EventIds(key);
    const good = ids.format(3, ids.suffix("alice"));
    const [epoch, n, client, tag] = good.split(".") as [string, string, string, string];
    const bob = Buffer.from("bob").toString("base64url");
    const flipped = (tag[0] === "A" ? "B" : "A") + tag.slice(1);
    for (const bad of [
      `${epoch}.${n}.${bob}.${tag}`,
      `${epoch}.${n}.${client}.${flipped}`,
      `${epoch}.${n}.${client}.${tag}x`,
      `${epoch}.${n}.${client}`,
      `${epoch}.-1.${client}.${tag}`,
      `${epoch}.01.${client}.${tag}`,
      `${epoch}.99999999999999999.${client}.${tag}`,
      `${epoch}.${n}.${client}=.${tag}`,
      `x.0.payroll`,
      "",
    ]) {
      expect(ids.verify(bad)).toBeUndefined();
    }
  });

  it("refuses overlong ids and client ids, before computing anything", () => {
    const ids = new EventIds(key);
    const long = "v".repeat(MAX_CLIENT_ID_BYTES + 1);
    expect(ids.verify(ids.format(1, ids.suffix(long)))).toBeUndefined();
    const max = "v".repeat(MAX_CLIENT_ID_BYTES);
    const okId = ids.format(1, ids.suffix(max));
    expect(okId.length).toBeLessThanOrEqual(MAX_EVENT_ID_LENGTH);
    expect(ids.verify(okId)?.client).toBe(max);
    expect(ids.verify("a".repeat(MAX_EVENT_ID_LENGTH + 1))).toBeUndefined();
  });

  it("claims the client id without verifying (only used to refuse closed clients)", () => {
    const ids = new EventIds(key);
    const forged = `abc.0.${Buffer.from("victim").toString("base64url")}.AAAAAAAAAAAAAAAA`;
    expect(claimedClient(forged)).toBe("victim");
    expect(ids.verify(forged)).toBeUndefined();
  });

  it("refuses a short idKey with a typed error", () => {
    expect(() => new EventIds("short")).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
  });

  it("generates unguessable, URL-safe client ids", () => {
    const seen = new Set(Array.from({ length: 1000 }, newClientId));
    expect(seen.size).toBe(1000);
    for (const id of seen) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});
