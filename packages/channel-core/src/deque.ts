// Smallest ring; below this the ring never shrinks.
const MIN_CAPACITY = 16;

/**
 * FIFO on a ring buffer with a power-of-two capacity: O(1) push, shift and indexed access,
 * and no garbage per item (a resume window pushes and shifts one entry per message, so an
 * array that grows and is compacted by copying would hand the collector a new one every few
 * thousand messages). The ring doubles when full and halves once a quarter full, so memory
 * follows the live length.
 */
export class Deque<T> {
  private items: (T | undefined)[] = new Array(MIN_CAPACITY);
  private mask = MIN_CAPACITY - 1;
  private head = 0;
  private count = 0;

  /** Number of items. */
  get length(): number {
    return this.count;
  }

  /** Appends an item. */
  push(item: T): void {
    if (this.count > this.mask) this.resize((this.mask + 1) * 2);
    this.items[(this.head + this.count) & this.mask] = item;
    this.count++;
  }

  /** Item `i` positions from the front. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.head + i) & this.mask];
  }

  /** The front item. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** Removes and returns the front item. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.count--;
    const capacity = this.mask + 1;
    if (capacity > MIN_CAPACITY && this.count * 4 <= capacity) this.resize(capacity / 2);
    return item;
  }

  /** Removes every item and returns them in order. */
  drain(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.head + i) & this.mask] as T);
    this.items = new Array(MIN_CAPACITY);
    this.mask = MIN_CAPACITY - 1;
    this.head = 0;
    this.count = 0;
    return out;
  }

  private resize(capacity: number): void {
    const next: (T | undefined)[] = new Array(capacity);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) & this.mask];
    this.items = next;
    this.mask = capacity - 1;
    this.head = 0;
  }
}
