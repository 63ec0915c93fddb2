import { InvalidTopicError } from "../errors.js";
import { InterestSet, LocalSubscriptions } from "../interest.js";
import { assertPattern, assertTopic, matchTopic } from "./topic.js";

describe("topic patterns (NATS convention)", () => {
  it.each([
    ["a.b.c", "a.b.c", true],
    ["a.*.c", "a.b.c", true],
    ["a.*", "a.b.c", false],
    ["a.>", "a.b.c", true],
    ["a.>", "a", false],
    ["*", "a", true],
    ["*", "a.b", false],
    [">", "a.b", true],
    ["a.*.>", "a.b", false],
    ["a.*.>", "a.b.c.d", true],
    ["a.b", "a.bc", false],
  ])("%s matches %s: %s", (pattern, topic, expected) => {
    expect(matchTopic(pattern, topic)).toBe(expected);
  });

  it.each(["", "a..b", ".a", "a.", "a b", "a\nb"])("refuses the topic %j", (t) => {
    expect(() => assertTopic(t)).toThrow(InvalidTopicError);
  });

  it("refuses wildcards in a published topic and a non-final >", () => {
    expect(() => assertTopic("a.*")).toThrow(InvalidTopicError);
    expect(() => assertPattern("a.>.b")).toThrow(InvalidTopicError);
    expect(() => assertPattern("a.*.>")).not.toThrow();
  });

  it("never lets a user wildcard match a reserved topic", () => {
    expect(matchTopic(">", "$sfn.ws.op")).toBe(false);
    expect(matchTopic("*.ws.op", "$sfn.ws.op")).toBe(false);
    expect(matchTopic("$sfn.>", "$sfn.ws.op")).toBe(true);
    const set = new InterestSet();
    set.add(">");
    expect(set.matches("$sfn.sse.op")).toBe(false);
    expect(set.matches("orders.new")).toBe(true);
  });

  it("reserves the $sfn. prefix for the adapters", () => {
    expect(() => assertTopic("$sfn.ws.emit")).toThrow(/reserved/);
    expect(() => assertPattern("$sfn.>")).toThrow(/reserved/);
    expect(() => assertTopic("$sfn.ws.emit", true)).not.toThrow();
  });
});

describe("routing decisions", () => {
  it("InterestSet answers for exact topics and wildcards, and forgets removed patterns", () => {
    const set = new InterestSet();
    set.add("orders.created");
    set.add("users.*");
    expect(set.matches("orders.created")).toBe(true);
    expect(set.matches("orders.deleted")).toBe(false);
    expect(set.matches("users.42")).toBe(true);
    set.delete("users.*");
    expect(set.matches("users.42")).toBe(false);
    expect(set.size).toBe(1);
  });

  it("LocalSubscriptions reports first and last listener of a pattern", () => {
    const subs = new LocalSubscriptions<() => void>();
    const f = () => {};
    const g = () => {};
    expect(subs.add("a.*", f)).toBe(true);
    expect(subs.add("a.*", g)).toBe(false);
    expect(subs.match("a.b").map((r: { listener: () => void }) => r.listener)).toEqual([f, g]);
    expect(subs.remove("a.*", f)).toBe(false);
    expect(subs.remove("a.*", g)).toBe(true);
    expect(subs.match("a.b")).toEqual([]);
  });
});
