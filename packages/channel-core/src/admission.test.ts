import { randomBytes } from "node:crypto";
import { AuthLimiter, PendingHandshakes, addressKey, toSecret } from "./admission.js";

describe("addressKey", () => {
  it("keys on the address without the port; IPv4-mapped as IPv4; IPv6 by its /64", () => {
    expect(addressKey("127.0.0.1:5555")).toBe("127.0.0.1");
    expect(addressKey("::ffff:10.1.2.3:80")).toBe("10.1.2.3");
    expect(addressKey("::1:4000")).toBe("0:0:0:0::/64");
    expect(addressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd:443")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2::7:443")).toBe(addressKey("2001:db8:1:2:ffff::1:443"));
    expect(addressKey("2001:db8:1:3::7:443")).not.toBe(addressKey("2001:db8:1:2::7:443"));
  });
});

describe("AuthLimiter", () => {
  const options = { maxFailures: 3, window: 1000, ban: 100, maxBan: 400 };

  it("bans after maxFailures within the window, for a period that doubles up to maxBan", () => {
    const l = new AuthLimiter(options);
    expect(l.failed("a", 0)).toBeUndefined();
    expect(l.failed("a", 10)).toBeUndefined();
    expect(l.failed("a", 20)).toEqual({ address: "a", failures: 3, duration: 100 });
    expect(l.retryAfter("a", 50)).toBe(70);
    expect(l.retryAfter("b", 50)).toBe(0);
    expect(l.retryAfter("a", 120)).toBe(0);
    for (const t of [130, 140]) expect(l.failed("a", t)).toBeUndefined();
    expect(l.failed("a", 150)?.duration).toBe(200);
    for (const t of [400, 410]) l.failed("a", t);
    expect(l.failed("a", 420)?.duration).toBe(400);
    for (const t of [900, 910]) l.failed("a", t);
    expect(l.failed("a", 920)?.duration).toBe(400);
  });

  it("forgets failures older than the window", () => {
    const l = new AuthLimiter(options);
    l.failed("a", 0);
    l.failed("a", 10);
    expect(l.failed("a", 1500)).toBeUndefined();
  });

  it("a success resets the count and the doubling (the running ban stays)", () => {
    const l = new AuthLimiter(options);
    for (const t of [0, 1, 2]) l.failed("a", t);
    l.succeeded("a");
    expect(l.retryAfter("a", 50)).toBe(52);
    for (const t of [200, 201]) expect(l.failed("a", t)).toBeUndefined();
    expect(l.failed("a", 202)?.duration).toBe(100);
  });

  it("tracks a bounded number of addresses", () => {
    const l = new AuthLimiter({ ...options, maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) l.failed(`10.0.${i >> 8}.${i & 255}`, i);
    expect(l.size).toBeLessThanOrEqual(100);
  });
});

describe("PendingHandshakes", () => {
  type Item = { name: string; pending: boolean; evicted: boolean; evict(): void };
  const item = (name: string): Item => ({
    name,
    pending: true,
    evicted: false,
    evict() {
      this.evicted = true;
    },
  });

  it("at the global cap, evicts the oldest and admits the newcomer", () => {
    const p = new PendingHandshakes<Item>(3, 10);
    const [a, b, c, d] = ["a", "b", "c", "d"].map(item) as [Item, Item, Item, Item];
    p.add(a, "x");
    p.add(b, "y");
    p.add(c, "z");
    expect(p.add(d, "w").map((e) => e.name)).toEqual(["a"]);
    expect([a.evicted, b.evicted, c.evicted, d.evicted]).toEqual([true, false, false, false]);
    expect(p.size).toBe(3);
  });

  it("at the per-address cap, evicts that address's oldest, never another address's", () => {
    const p = new PendingHandshakes<Item>(100, 2);
    const legit = item("legit");
    p.add(legit, "good");
    const flood = Array.from({ length: 50 }, (_, i) => item(`f${i}`));
    for (const f of flood) p.add(f, "bad");
    expect(legit.evicted).toBe(false);
    expect(flood.filter((f) => !f.evicted).map((f) => f.name)).toEqual(["f48", "f49"]);
  });

  it("finished handshakes leave the count", () => {
    const p = new PendingHandshakes<Item>(2, 2);
    const a = item("a");
    p.add(a, "x");
    a.pending = false;
    p.add(item("b"), "x");
    p.add(item("c"), "x");
    expect(a.evicted).toBe(false);
    expect(p.size).toBe(2);
  });
});

describe("toSecret: at least 128 random bits", () => {
  it("refuses short or patterned secrets with InvalidOptionError", () => {
    for (const weak of [
      "",
      "s3cret",
      "demo-secret",
      "change-me",
      "0123456789012345678901",
      "passwordpasswordpassword",
      "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ]) {
      expect(() => toSecret(weak)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    }
    expect(() => toSecret(new Uint8Array(15).map((_, i) => i))).toThrow(/too short/);
    expect(() => toSecret(new Uint8Array(64))).toThrow(/not random/);
  });

  it("accepts generated secrets: 32 random bytes as base64url or hex, or 16+ random bytes", () => {
    for (let i = 0; i < 200; i++) {
      expect(() => toSecret(randomBytes(32).toString("base64url"))).not.toThrow();
      expect(() => toSecret(randomBytes(16).toString("hex"))).not.toThrow();
      expect(() => toSecret(randomBytes(16))).not.toThrow();
    }
    expect(toSecret(undefined)).toBeUndefined();
  });
});
