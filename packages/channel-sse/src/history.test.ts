import { EventHistory, entryBytes, type HistoryEntry } from "./history.js";

const entry = (n: number, at: number, size = 8, addressing: { to?: string[]; rooms?: string[] } = {}): HistoryEntry => ({
  n,
  body: Buffer.alloc(size, 0x61),
  at,
  ...addressing,
});

const limits = (over: Partial<{ maxEvents: number; maxAge: number; maxBytes: number }> = {}) => ({
  maxEvents: 100,
  maxAge: 60_000,
  maxBytes: 1 << 20,
  ...over,
});

/** Every entry after `n`, walking the history as a replay does. */
function walk(h: EventHistory, n: number, now: number): number[] | "gap" {
  const out: number[] = [];
  for (let e = h.after(n, now); e !== undefined; e = h.after(e.n, now)) {
    if (e === "gap") return "gap";
    out.push(e.n);
  }
  return out;
}

describe("event history", () => {
  it("keeps the addressing of each event, not who was connected", () => {
    const h = new EventHistory(limits());
    h.add(entry(1, 0));
    h.add(entry(2, 0, 8, { to: ["bob"] }));
    h.add(entry(3, 0, 8, { rooms: ["r"] }));
    expect(h.after(1, 0)).toMatchObject({ n: 2, to: ["bob"] });
    expect(h.after(2, 0)).toMatchObject({ n: 3, rooms: ["r"] });
    expect(h.after(3, 0)).toBeUndefined();
  });

  it("keeps at most maxEvents, and reports a gap for a client behind them", () => {
    const h = new EventHistory(limits({ maxEvents: 2 }));
    for (let n = 1; n <= 4; n++) h.add(entry(n, 0));
    expect(h.size).toBe(2);
    expect(walk(h, 1, 0)).toBe("gap");
    expect(walk(h, 2, 0)).toEqual([3, 4]);
  });

  it("forgets events older than maxAge", () => {
    const h = new EventHistory(limits({ maxAge: 1000 }));
    h.add(entry(1, 0));
    h.add(entry(2, 900));
    expect(walk(h, 0, 1500)).toBe("gap");
    expect(walk(h, 1, 1500)).toEqual([2]);
    expect(h.size).toBe(1);
  });

  it("is bounded in bytes: 300 events of 512 KiB are not all kept", () => {
    const maxBytes = 8 * 1024 * 1024;
    const h = new EventHistory(limits({ maxEvents: 1000, maxBytes }));
    const body = Buffer.alloc(512 * 1024, 0x61);
    for (let n = 1; n <= 300; n++) h.add({ n, body, at: 0 });
    expect(h.bytes).toBeLessThanOrEqual(maxBytes);
    expect(h.size).toBe(Math.floor(maxBytes / entryBytes({ n: 1, body, at: 0 })));
    expect(walk(h, 300 - h.size, 0)).toHaveLength(h.size);
    expect(walk(h, 300 - h.size - 1, 0)).toBe("gap");
  });

  it("charges addressing as well as bodies", () => {
    const small = entryBytes(entry(1, 0, 10));
    expect(entryBytes(entry(1, 0, 10, { to: ["x".repeat(1000)] }))).toBeGreaterThan(small + 1000);
    expect(entryBytes(entry(1, 0, 10, { rooms: ["€".repeat(100)] }))).toBeGreaterThan(small + 300);
  });

  it("an event bigger than the whole byte bound is kept by nobody, and whoever is behind it has a gap", () => {
    const h = new EventHistory(limits({ maxBytes: 1000 }));
    h.add(entry(1, 0, 100));
    h.add(entry(2, 0, 5000));
    h.add(entry(3, 0, 100));
    expect(h.size).toBe(1);
    expect(walk(h, 1, 0)).toBe("gap");
    expect(walk(h, 2, 0)).toEqual([3]);
  });

  it("keeps nothing with maxEvents 0", () => {
    const h = new EventHistory(limits({ maxEvents: 0 }));
    h.add(entry(1, 0));
    expect(h.size).toBe(0);
    expect(walk(h, 0, 0)).toBe("gap");
    expect(walk(h, 1, 0)).toEqual([]);
  });
});
