/** One event kept for `Last-Event-ID` replay. */
export interface HistoryEntry {
  /** Sequence number on this front end. */
  n: number;
  /** `event:`/`data:` lines of the event. */
  body: string;
  /** Who got it: every client, or these client ids. */
  audience: "all" | ReadonlySet<string>;
  /** When it was sent (ms since epoch). */
  at: number;
}

/** Result of looking up what a reconnecting client missed. */
export type Replay = { ok: true; entries: HistoryEntry[] } | { ok: false; reason: "history-exceeded" };

/**
 * The events a front end sent recently, bounded in count and age, so a browser that
 * reconnects with `Last-Event-ID` gets what it missed, or is told it cannot.
 */
export class EventHistory {
  private entries: HistoryEntry[] = [];
  private head = 0;
  /** Highest sequence number evicted: a client behind it has a gap. */
  private evicted = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxAge: number,
  ) {}

  add(entry: HistoryEntry): void {
    if (this.maxEvents <= 0) {
      this.evicted = entry.n;
      return;
    }
    this.entries.push(entry);
    this.trim(entry.at);
  }

  /** Events after `n` that `client` received, or a gap if some were evicted. */
  since(n: number, client: string, now = Date.now()): Replay {
    this.trim(now);
    if (n < this.evicted) return { ok: false, reason: "history-exceeded" };
    const out: HistoryEntry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as HistoryEntry;
      if (e.n > n && (e.audience === "all" || e.audience.has(client))) out.push(e);
    }
    return { ok: true, entries: out };
  }

  /** Number of events kept. */
  get size(): number {
    return this.entries.length - this.head;
  }

  private trim(now: number): void {
    while (this.size > 0) {
      const first = this.entries[this.head] as HistoryEntry;
      if (this.size <= this.maxEvents && now - first.at <= this.maxAge) break;
      this.evicted = first.n;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
