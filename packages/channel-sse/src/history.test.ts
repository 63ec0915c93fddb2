import { EventHistory } from "./history.js";

const entry = (n: number, at: number, audience: "all" | Set<string> = "all") => ({ n, body: `data: ${n}\n\n`, audience, at });

describe("event history", () => {
  it("replays what a client missed, only what was meant for it", () => {
    const h = new EventHistory(10, 60_000);
    h.add(entry(1, 0));
    h.add(entry(2, 0, new Set(["bob"])));
    h.add(entry(3, 0));
    expect(h.since(1, "alice", 0)).toEqual({ ok: true, entries: [entry(3, 0)] });
    expect(h.since(1, "bob", 0)).toEqual({ ok: true, entries: [entry(2, 0, new Set(["bob"])), entry(3, 0)] });
  });

  it("keeps at most maxEvents, and reports a gap for a client behind them", () => {
    const h = new EventHistory(2, 60_000);
    for (let n = 1; n <= 4; n++) h.add(entry(n, 0));
    expect(h.size).toBe(2);
    expect(h.since(1, "a", 0)).toEqual({ ok: false, reason: "history-exceeded" });
    expect(h.since(2, "a", 0)).toEqual({ ok: true, entries: [entry(3, 0), entry(4, 0)] });
  });

  it("forgets events older than maxAge", () => {
    const h = new EventHistory(100, 1000);
    h.add(entry(1, 0));
    h.add(entry(2, 900));
    expect(h.since(0, "a", 1500)).toEqual({ ok: false, reason: "history-exceeded" });
    expect(h.since(1, "a", 1500)).toEqual({ ok: true, entries: [entry(2, 900)] });
    expect(h.size).toBe(1);
  });
});
