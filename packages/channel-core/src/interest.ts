import { RESERVED_PREFIX, SINGLE_WILDCARD, TAIL_WILDCARD, TOKEN_SEPARATOR, isWildcard } from "./protocol/topic.js";

// The first token of every reserved topic; wildcards at the root never reach under it.
const RESERVED_TOKEN = RESERVED_PREFIX.slice(0, -TOKEN_SEPARATOR.length);

class TrieNode<V> {
  literal: Map<string, TrieNode<V>> | undefined;
  star: TrieNode<V> | undefined;
  /** Value of the pattern that ends here (`a.b`). */
  value: V | undefined;
  /** Value of the pattern that ends here with `>` (`a.b.>`). */
  tail: V | undefined;

  get empty(): boolean {
    return (
      this.value === undefined &&
      this.tail === undefined &&
      this.star === undefined &&
      (this.literal === undefined || this.literal.size === 0)
    );
  }
}

/**
 * Subscription patterns in a token trie, the way NATS's sublist keeps them: a node per token,
 * with literal children, a `*` child and a `>` slot. Matching a topic walks its tokens, so the
 * cost follows the topic's depth (and the patterns that really match), not the pattern count.
 */
export class PatternTrie<V> {
  private readonly root = new TrieNode<V>();
  private count = 0;

  /** Number of patterns. */
  get size(): number {
    return this.count;
  }

  /** The value stored under `pattern`. */
  get(pattern: string): V | undefined {
    const tokens = pattern.split(TOKEN_SEPARATOR);
    const tail = tokens[tokens.length - 1] === TAIL_WILDCARD;
    let node: TrieNode<V> | undefined = this.root;
    for (let i = 0, n = tail ? tokens.length - 1 : tokens.length; i < n && node; i++) node = child(node, tokens[i]!);
    if (!node) return undefined;
    return tail ? node.tail : node.value;
  }

  /** Stores `value` under `pattern`, replacing what was there. */
  set(pattern: string, value: V): void {
    const tokens = pattern.split(TOKEN_SEPARATOR);
    const tail = tokens[tokens.length - 1] === TAIL_WILDCARD;
    let node = this.root;
    for (let i = 0, n = tail ? tokens.length - 1 : tokens.length; i < n; i++) {
      const token = tokens[i]!;
      if (token === SINGLE_WILDCARD) node = node.star ??= new TrieNode();
      else {
        node.literal ??= new Map();
        let next = node.literal.get(token);
        if (!next) node.literal.set(token, (next = new TrieNode()));
        node = next;
      }
    }
    if ((tail ? node.tail : node.value) === undefined) this.count++;
    if (tail) node.tail = value;
    else node.value = value;
  }

  /** Removes `pattern` and prunes the nodes it leaves empty; false if it was not there. */
  delete(pattern: string): boolean {
    const tokens = pattern.split(TOKEN_SEPARATOR);
    const tail = tokens[tokens.length - 1] === TAIL_WILDCARD;
    const n = tail ? tokens.length - 1 : tokens.length;
    const path: TrieNode<V>[] = [this.root];
    for (let i = 0; i < n; i++) {
      const next = child(path[i]!, tokens[i]!);
      if (!next) return false;
      path.push(next);
    }
    const node = path[n]!;
    if (tail ? node.tail === undefined : node.value === undefined) return false;
    if (tail) node.tail = undefined;
    else node.value = undefined;
    this.count--;
    for (let i = n; i > 0 && path[i]!.empty; i--) {
      const parent = path[i - 1]!;
      const token = tokens[i - 1]!;
      if (token === SINGLE_WILDCARD) parent.star = undefined;
      else parent.literal?.delete(token);
    }
    return true;
  }

  /** Removes every pattern. */
  clear(): void {
    const root = this.root;
    root.literal = root.star = root.value = root.tail = undefined;
    this.count = 0;
  }

  /** Every pattern, rebuilt from the trie. */
  patterns(): string[] {
    const out: string[] = [];
    collect(this.root, [], out);
    return out;
  }

  /**
   * Calls `visit` with the value of every pattern matching the concrete `topic`; stops early
   * when `visit` returns true. Wildcards at the root never match a reserved (`$sfn.`) topic.
   */
  match(topic: string, visit: (value: V) => boolean | void): void {
    if (this.count === 0) return;
    const tokens = tokensOf(topic);
    const root = this.root;
    if (tokens.length > 1 && tokens[0] === RESERVED_TOKEN) {
      const next = root.literal?.get(RESERVED_TOKEN);
      if (next) walk(next, tokens, 1, visit);
      return;
    }
    walk(root, tokens, 0, visit);
  }

  /** True if some pattern matches the concrete `topic` (what {@link match} visits, without a callback per call). */
  test(topic: string): boolean {
    if (this.count === 0) return false;
    const tokens = tokensOf(topic);
    if (tokens.length > 1 && tokens[0] === RESERVED_TOKEN) {
      const next = this.root.literal?.get(RESERVED_TOKEN);
      return next !== undefined && walk(next, tokens, 1, found);
    }
    return walk(this.root, tokens, 0, found);
  }
}

// The visitor of `test`: any value is a match, and the first one ends the walk.
const found = (): boolean => true;

// One publish asks every peer's trie about the same topic: split it once.
let lastTopic = "";
let lastTokens: readonly string[] = [""];

function tokensOf(topic: string): readonly string[] {
  if (topic !== lastTopic) {
    lastTokens = topic.split(TOKEN_SEPARATOR);
    lastTopic = topic;
  }
  return lastTokens;
}

function child<V>(node: TrieNode<V>, token: string): TrieNode<V> | undefined {
  return token === SINGLE_WILDCARD ? node.star : node.literal?.get(token);
}

/** Depth-first walk; true once `visit` asked to stop. Each trie node is visited at most once per topic. */
function walk<V>(node: TrieNode<V>, tokens: readonly string[], i: number, visit: (value: V) => boolean | void): boolean {
  if (i === tokens.length) return node.value !== undefined && visit(node.value) === true;
  // `>` matches one or more remaining tokens, and at least one remains here.
  if (node.tail !== undefined && visit(node.tail) === true) return true;
  const lit = node.literal?.get(tokens[i]!);
  if (lit && walk(lit, tokens, i + 1, visit)) return true;
  return node.star !== undefined && walk(node.star, tokens, i + 1, visit);
}

/** UTF-8 length of a pattern, the unit of the pattern-bytes limits. */
export function patternBytes(pattern: string): number {
  return Buffer.byteLength(pattern, "utf8");
}

/**
 * The set of patterns a peer subscribed to, answering "does this topic interest it?" with a
 * trie walk whose cost follows the topic's depth, however many patterns the peer has. No
 * per-topic cache: a walk costs about what a cache lookup would, and a cache of a departed or
 * hostile peer's answers would only hold memory. Only the last answer is kept: a publisher
 * asks every peer's set about the same topic, message after message, and comparing the topic
 * with the last one (the same string, most often) is cheaper than a hash lookup.
 */
export class InterestSet {
  // Exact patterns answer with one hash lookup; only wildcard patterns need the trie.
  private readonly exact = new Set<string>();
  private readonly trie = new PatternTrie<true>();
  private byteCount = 0;
  private lastTopic: string | undefined;
  private lastAnswer = false;

  /** Number of patterns. */
  get size(): number {
    return this.exact.size + this.trie.size;
  }

  /** Number of patterns with a wildcard. */
  get wildcards(): number {
    return this.trie.size;
  }

  /** Total UTF-8 bytes of the patterns. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Adds a pattern; false if it was there already. */
  add(pattern: string): boolean {
    if (this.has(pattern)) return false;
    this.lastTopic = undefined;
    if (isWildcard(pattern)) this.trie.set(pattern, true);
    else this.exact.add(pattern);
    this.byteCount += patternBytes(pattern);
    return true;
  }

  /** Removes a pattern; false if it was not there. */
  delete(pattern: string): boolean {
    if (!(isWildcard(pattern) ? this.trie.delete(pattern) : this.exact.delete(pattern))) return false;
    this.lastTopic = undefined;
    this.byteCount -= patternBytes(pattern);
    return true;
  }

  /** True if the pattern itself is in the set. */
  has(pattern: string): boolean {
    return isWildcard(pattern) ? this.trie.get(pattern) !== undefined : this.exact.has(pattern);
  }

  /** Removes every pattern. */
  clear(): void {
    this.exact.clear();
    this.trie.clear();
    this.byteCount = 0;
    this.lastTopic = undefined;
  }

  /** True if some pattern matches the concrete topic. */
  matches(topic: string): boolean {
    if (topic === this.lastTopic) return this.lastAnswer;
    this.lastTopic = topic;
    return (this.lastAnswer = this.exact.has(topic) || this.trie.test(topic));
  }

  /** Every pattern. */
  patterns(): string[] {
    return [...this.exact, ...this.trie.patterns()];
  }
}

function collect<V>(node: TrieNode<V>, prefix: string[], out: string[]): void {
  const here = prefix.join(TOKEN_SEPARATOR);
  if (node.value !== undefined && prefix.length > 0) out.push(here);
  if (node.tail !== undefined) out.push(prefix.length > 0 ? here + TOKEN_SEPARATOR + TAIL_WILDCARD : TAIL_WILDCARD);
  if (node.literal) for (const [token, next] of node.literal) collect(next, [...prefix, token], out);
  if (node.star) collect(node.star, [...prefix, SINGLE_WILDCARD], out);
}

// What `match` answers while nothing is subscribed (shared, never written to).
const NO_REGISTRATIONS: readonly never[] = Object.freeze([]);

// Routing caches answers per topic; past this many distinct topics the cache starts over.
const CACHE_LIMIT = 4096;

/** A listener registered under a pattern. */
export interface Registration<L> {
  pattern: string;
  listener: L;
}

interface PatternEntry<L> {
  pattern: string;
  /** Order of first subscription, so matches come out in a stable order. */
  order: number;
  listeners: Set<L>;
}

/**
 * This service's own subscriptions: pattern → listeners in a trie, with the listener list per
 * topic cached (delivery builds that list on every message; the cache is cleared on any change).
 */
export class LocalSubscriptions<L> {
  private readonly byPattern = new Map<string, PatternEntry<L>>();
  private readonly trie = new PatternTrie<PatternEntry<L>>();
  private cache = new Map<string, Registration<L>[]>();
  // The last answer (a run of messages on one topic skips the cache's hash lookup); cleared with the cache.
  private lastTopic: string | undefined;
  private lastRegs: Registration<L>[] = [];
  private nextOrder = 0;

  /** Adds a listener; true if this is the first listener of the pattern. */
  add(pattern: string, listener: L): boolean {
    let entry = this.byPattern.get(pattern);
    const fresh = entry === undefined;
    if (!entry) {
      entry = { pattern, order: this.nextOrder++, listeners: new Set() };
      this.byPattern.set(pattern, entry);
      this.trie.set(pattern, entry);
    }
    entry.listeners.add(listener);
    this.forget();
    return fresh;
  }

  /** Removes one listener, or all of the pattern; true if the pattern has none left. */
  remove(pattern: string, listener?: L): boolean {
    const entry = this.byPattern.get(pattern);
    if (!entry) return false;
    if (listener === undefined) entry.listeners.clear();
    else entry.listeners.delete(listener);
    this.forget();
    if (entry.listeners.size > 0) return false;
    this.byPattern.delete(pattern);
    this.trie.delete(pattern);
    return true;
  }

  /** Listeners whose pattern matches the topic: patterns in subscription order, listeners in order per pattern. */
  match(topic: string): readonly Registration<L>[] {
    // A service that only publishes asks this on every publish: no lookup at all then.
    if (this.byPattern.size === 0) return NO_REGISTRATIONS;
    if (topic === this.lastTopic) return this.lastRegs;
    let regs = this.cache.get(topic);
    if (regs) {
      this.lastTopic = topic;
      this.lastRegs = regs;
      return regs;
    }
    const entries: PatternEntry<L>[] = [];
    this.trie.match(topic, (e) => void entries.push(e));
    if (entries.length > 1) entries.sort((a, b) => a.order - b.order);
    regs = [];
    for (const e of entries) for (const listener of e.listeners) regs.push({ pattern: e.pattern, listener });
    if (this.cache.size >= CACHE_LIMIT) this.cache = new Map();
    this.cache.set(topic, regs);
    this.lastTopic = topic;
    this.lastRegs = regs;
    return regs;
  }

  private forget(): void {
    this.cache.clear();
    this.lastTopic = undefined;
    this.lastRegs = [];
  }

  /** Every pattern with at least one listener. */
  patterns(): string[] {
    return [...this.byPattern.keys()];
  }
}
