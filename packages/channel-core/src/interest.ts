import { CompiledPattern, isWildcard } from "./protocol/topic.js";

// Routing caches answers per topic; past this many distinct topics the cache starts over.
const CACHE_LIMIT = 4096;

/**
 * The set of patterns a peer subscribed to, answering "does this topic interest it?"
 * in O(1) for exact topics and once per topic (then cached) for wildcards.
 */
export class InterestSet {
  private readonly exact = new Set<string>();
  private readonly wild = new Map<string, CompiledPattern>();
  private cache = new Map<string, boolean>();

  /** Number of patterns. */
  get size(): number {
    return this.exact.size + this.wild.size;
  }

  /** Adds a pattern; false if it was there already. */
  add(pattern: string): boolean {
    if (this.has(pattern)) return false;
    if (isWildcard(pattern)) this.wild.set(pattern, new CompiledPattern(pattern));
    else this.exact.add(pattern);
    this.cache.clear();
    return true;
  }

  /** Removes a pattern; false if it was not there. */
  delete(pattern: string): boolean {
    const removed = this.exact.delete(pattern) || this.wild.delete(pattern);
    if (removed) this.cache.clear();
    return removed;
  }

  /** True if the pattern itself is in the set. */
  has(pattern: string): boolean {
    return this.exact.has(pattern) || this.wild.has(pattern);
  }

  /** Removes every pattern. */
  clear(): void {
    this.exact.clear();
    this.wild.clear();
    this.cache.clear();
  }

  /** True if some pattern matches the concrete topic. */
  matches(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    if (this.wild.size === 0) return false;
    let hit = this.cache.get(topic);
    if (hit === undefined) {
      hit = false;
      for (const p of this.wild.values()) {
        if (p.matches(topic)) {
          hit = true;
          break;
        }
      }
      if (this.cache.size >= CACHE_LIMIT) this.cache = new Map();
      this.cache.set(topic, hit);
    }
    return hit;
  }

  /** Every pattern. */
  patterns(): string[] {
    return [...this.exact, ...this.wild.keys()];
  }
}

/** A listener registered under a pattern. */
export interface Registration<L> {
  pattern: string;
  listener: L;
}

/** This service's own subscriptions: pattern → listeners, with per-topic lookup cached. */
export class LocalSubscriptions<L> {
  private readonly byPattern = new Map<string, Set<L>>();
  private readonly compiled = new Map<string, CompiledPattern>();
  private cache = new Map<string, Registration<L>[]>();

  /** Adds a listener; true if this is the first listener of the pattern. */
  add(pattern: string, listener: L): boolean {
    let set = this.byPattern.get(pattern);
    const fresh = set === undefined;
    if (!set) {
      set = new Set();
      this.byPattern.set(pattern, set);
      if (isWildcard(pattern)) this.compiled.set(pattern, new CompiledPattern(pattern));
    }
    set.add(listener);
    this.cache.clear();
    return fresh;
  }

  /** Removes one listener, or all of the pattern; true if the pattern has none left. */
  remove(pattern: string, listener?: L): boolean {
    const set = this.byPattern.get(pattern);
    if (!set) return false;
    if (listener === undefined) set.clear();
    else set.delete(listener);
    this.cache.clear();
    if (set.size > 0) return false;
    this.byPattern.delete(pattern);
    this.compiled.delete(pattern);
    return true;
  }

  /** Listeners whose pattern matches the topic, in subscription order per pattern. */
  match(topic: string): Registration<L>[] {
    let regs = this.cache.get(topic);
    if (regs) return regs;
    regs = [];
    const exact = this.byPattern.get(topic);
    // A concrete topic is never itself a wildcard pattern, so this is its exact subscription.
    if (exact) for (const listener of exact) regs.push({ pattern: topic, listener });
    for (const [pattern, c] of this.compiled) {
      if (!c.matches(topic)) continue;
      const set = this.byPattern.get(pattern);
      if (set) for (const listener of set) regs.push({ pattern, listener });
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache = new Map();
    this.cache.set(topic, regs);
    return regs;
  }

  /** Every pattern with at least one listener. */
  patterns(): string[] {
    return [...this.byPattern.keys()];
  }
}
