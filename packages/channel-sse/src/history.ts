/** One event kept for `Last-Event-ID` replay. */
export interface HistoryEntry {
  /** Sequence number on this front end. */
  readonly n: number;
  /** `event:`/`data:` lines of the event, UTF-8. */
  readonly body: Buffer;
  /** Client ids it was addressed to (with `rooms` absent too: a broadcast). */
  readonly to?: readonly string[] | undefined;
  /** Rooms it was addressed to. */
  readonly rooms?: readonly string[] | undefined;
  /** When it was sent (ms since epoch). */
  readonly at: number;
}

/** Bytes an entry is charged beyond its body (object, number, timestamp), so empty events are not free. */
const ENTRY_OVERHEAD = 64;

/** What an entry costs in the history's byte bound: its body, its addressing and a fixed overhead. */
export function entryBytes(e: HistoryEntry): number {
  let n = ENTRY_OVERHEAD + e.body.length;
  for (const s of e.to ?? []) n += Buffer.byteLength(s) + 16;
  for (const s of e.rooms ?? []) n += Buffer.byteLength(s) + 16;
  return n;
}

/** Bounds of an {@link EventHistory}. */
export interface HistoryLimits {
  /** Events kept at most. */
  maxEvents: number;
  /** Longest an event is kept, in ms. */
  maxAge: number;
  /** Bytes kept at most (see {@link entryBytes}). */
  maxBytes: number;
}

/**
 * The events a front end sent recently, bounded in count, age and bytes, with their addressing
 * (broadcast, client ids, rooms), so a browser that reconnects with `Last-Event-ID` gets what was
 * meant for it while it was away, or is told it cannot.
 */
export class EventHistory {
  private entries: HistoryEntry[] = [];
  private costs: number[] = [];
  private head = 0;
  private total = 0;
  /** Highest sequence number evicted: a client behind it has a gap. */
  private evicted = 0;

  constructor(private readonly limits: HistoryLimits) {}

  add(entry: HistoryEntry): void {
    const cost = entryBytes(entry);
    if (this.limits.maxEvents <= 0 || this.limits.maxBytes < cost) {
      // Kept by nobody: whoever is behind it now has a gap.
      this.trim(entry.at, Infinity);
      this.evicted = entry.n;
      return;
    }
    this.entries.push(entry);
    this.costs.push(cost);
    this.total += cost;
    this.trim(entry.at, 0);
  }

  /**
   * The first kept event after event `n`: undefined if there is none (yet), `"gap"` if some
   * event after `n` was evicted (the history cannot fill the gap).
   */
  after(n: number, now = Date.now()): HistoryEntry | "gap" | undefined {
    this.trim(now, 0);
    if (n < this.evicted) return "gap";
    // Entries are in number order: binary search for the first one after n.
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as HistoryEntry).n <= n) lo = mid + 1;
      else hi = mid;
    }
    return this.entries[lo];
  }

  /** Number of events kept. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Bytes the kept events are charged (see {@link entryBytes}). */
  get bytes(): number {
    return this.total;
  }

  /** Evicts past the count, age and byte bounds (and `extra` more events). */
  private trim(now: number, extra: number): void {
    let drop = extra;
    while (this.size > 0) {
      const first = this.entries[this.head] as HistoryEntry;
      const over = this.size > this.limits.maxEvents || this.total > this.limits.maxBytes || now - first.at > this.limits.maxAge;
      if (!over && drop <= 0) break;
      drop--;
      this.evicted = first.n;
      this.total -= this.costs[this.head] as number;
      // Let the body go now, not when the array is compacted.
      (this.entries as (HistoryEntry | undefined)[])[this.head] = undefined;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.costs = this.costs.slice(this.head);
      this.head = 0;
    }
  }
}
