import fc from "fast-check";
import { InterestSet, LocalSubscriptions, PatternTrie } from "./interest.js";
import { CompiledPattern } from "./protocol/topic.js";

// Small alphabets so that random patterns and topics actually meet.
const literal = fc.constantFrom("a", "b", "c", "$sfn");
const topicArb = fc.array(literal, { minLength: 1, maxLength: 5 }).map((t) => t.join("."));
const patternArb = fc
  .tuple(fc.array(fc.oneof(literal, fc.constant("*")), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([tokens, tail]) => (tail ? [...tokens, ">"] : tokens).join("."));
const onlyTail = fc.constant(">");

describe("PatternTrie (a NATS-style sublist)", () => {
  it("matches exactly what CompiledPattern matches, reserved topics included", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.oneof(patternArb, onlyTail), { maxLength: 30 }),
        fc.array(topicArb, { maxLength: 20 }),
        (patterns, topics) => {
          const trie = new PatternTrie<string>();
          for (const p of patterns) trie.set(p, p);
          for (const topic of topics) {
            const got: string[] = [];
            trie.match(topic, (p) => void got.push(p));
            const expected = patterns.filter((p) => new CompiledPattern(p).matches(topic));
            expect(got.sort()).toEqual(expected.sort());
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("forgets deleted patterns and prunes their nodes, so they cost nothing afterwards", () => {
    fc.assert(
      fc.property(fc.uniqueArray(patternArb, { maxLength: 30 }), fc.nat(), (patterns, seed) => {
        const trie = new PatternTrie<string>();
        for (const p of patterns) trie.set(p, p);
        const removed = patterns.filter((_, i) => (i + seed) % 2 === 0);
        for (const p of removed) expect(trie.delete(p)).toBe(true);
        const kept = patterns.filter((p) => !removed.includes(p));
        expect(trie.size).toBe(kept.length);
        expect(trie.patterns().sort()).toEqual([...kept].sort());
        for (const p of kept) trie.delete(p);
        expect(trie.size).toBe(0);
        // Every node was pruned: the root has no children left.
        expect(trie.patterns()).toEqual([]);
        expect((trie as unknown as { root: { empty: boolean } }).root.empty).toBe(true);
      }),
    );
  });

  it("stops the walk as soon as the visitor says so", () => {
    const trie = new PatternTrie<number>();
    trie.set("a.*", 1);
    trie.set("a.>", 2);
    trie.set("*.b", 3);
    const seen: number[] = [];
    trie.match("a.b", (v) => {
      seen.push(v);
      return true;
    });
    expect(seen).toHaveLength(1);
  });
});

const isWildcardish = (p: string): boolean => p.split(".").some((t) => t === "*" || t === ">");

describe("InterestSet", () => {
  it("answers exactly as matching every pattern with CompiledPattern would", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.oneof(patternArb, topicArb, onlyTail), { maxLength: 30 }),
        fc.array(topicArb, { maxLength: 20 }),
        (patterns, topics) => {
          const set = new InterestSet();
          for (const p of patterns) set.add(p);
          for (const topic of topics) expect(set.matches(topic)).toBe(patterns.some((p) => new CompiledPattern(p).matches(topic)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("answers a topic asked again after subscriptions change (its last answer is not kept past a change)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("add", "delete", "clear", "ask"), fc.oneof(patternArb, topicArb, onlyTail), topicArb), {
          maxLength: 40,
        }),
        (steps) => {
          const set = new InterestSet();
          const live = new Set<string>();
          for (const [step, pattern, topic] of steps) {
            if (step === "add") {
              set.add(pattern);
              live.add(pattern);
            } else if (step === "delete") {
              set.delete(pattern);
              live.delete(pattern);
            } else if (step === "clear") {
              set.clear();
              live.clear();
            }
            // The same topic twice in a row: the second answer may come from the memo.
            const expected = [...live].some((p) => new CompiledPattern(p).matches(topic));
            expect([set.matches(topic), set.matches(topic)]).toEqual([expected, expected]);
            const again = [...live].some((p) => new CompiledPattern(p).matches(pattern));
            if (!isWildcardish(pattern)) expect(set.matches(pattern)).toBe(again);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("counts patterns, wildcard patterns and pattern bytes (the per-peer limits' units)", () => {
    const set = new InterestSet();
    expect(set.add("orders.created")).toBe(true);
    expect(set.add("orders.created")).toBe(false);
    set.add("users.*");
    set.add("é.>");
    expect([set.size, set.wildcards, set.bytes]).toEqual([3, 2, 14 + 7 + 4]);
    set.delete("users.*");
    expect([set.size, set.wildcards, set.bytes]).toEqual([2, 1, 14 + 4]);
    expect(set.patterns().sort()).toEqual(["orders.created", "é.>"]);
    set.clear();
    expect([set.size, set.wildcards, set.bytes, set.matches("orders.created")]).toEqual([0, 0, 0, false]);
  });
});

describe("LocalSubscriptions", () => {
  it("returns matching listeners with patterns in subscription order", () => {
    const subs = new LocalSubscriptions<string>();
    subs.add("a.>", "tail");
    subs.add("a.b", "exact");
    subs.add("*.b", "star");
    subs.add("a.b", "exact2");
    expect(subs.match("a.b")).toEqual([
      { pattern: "a.>", listener: "tail" },
      { pattern: "a.b", listener: "exact" },
      { pattern: "a.b", listener: "exact2" },
      { pattern: "*.b", listener: "star" },
    ]);
    subs.remove("a.>");
    expect(subs.match("a.b").map((r) => r.listener)).toEqual(["exact", "exact2", "star"]);
  });

  it("answers a topic asked again after listeners change (its last answer is not kept past a change)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom("add", "remove", "removeAll", "ask"),
            fc.oneof(patternArb, topicArb, onlyTail),
            fc.integer({ min: 0, max: 2 }),
            topicArb,
          ),
          { maxLength: 40 },
        ),
        (steps) => {
          const subs = new LocalSubscriptions<number>();
          // The reference: pattern → listeners, patterns in first-subscription order.
          const live = new Map<string, Set<number>>();
          for (const [step, pattern, listener, topic] of steps) {
            if (step === "add") {
              subs.add(pattern, listener);
              live.set(pattern, (live.get(pattern) ?? new Set()).add(listener));
            } else if (step === "remove" || step === "removeAll") {
              subs.remove(pattern, step === "remove" ? listener : undefined);
              const set = live.get(pattern);
              if (step === "remove") set?.delete(listener);
              else set?.clear();
              if (set?.size === 0) live.delete(pattern);
            }
            const expected = [...live]
              .filter(([p]) => new CompiledPattern(p).matches(topic))
              .flatMap(([p, ls]) => [...ls].map((l) => ({ pattern: p, listener: l })));
            // The same topic twice in a row: the second answer may come from the memo.
            expect([subs.match(topic), subs.match(topic)]).toEqual([expected, expected]);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
