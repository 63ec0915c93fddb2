import { ErrorCode } from "@sfn/channel-core";
import { NatsErrorCode } from "./errors.js";
import { Presence, readAnnouncement, type PresenceAnnouncement, type PresenceEvents, type PresenceHost } from "./presence.js";

/** A virtual clock with timers, and a bus that records what each presence sends. */
class FakeWorld {
  now = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  readonly sent: PresenceAnnouncement[] = [];

  host(): PresenceHost {
    return {
      send: (a) => this.sent.push(a),
      now: () => this.now,
      setTimer: (fn, ms) => {
        const id = this.nextId++;
        this.timers.push({ at: this.now + ms, fn, id });
        return id;
      },
      clearTimer: (id) => {
        this.timers = this.timers.filter((t) => t.id !== id);
      },
    };
  }

  /** Moves the clock, firing due timers in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = due.at;
      due.fn();
    }
    this.now = end;
  }
}

type Recorded = { [K in keyof PresenceEvents]: [K, ...PresenceEvents[K]] }[keyof PresenceEvents];

function record(p: Presence): Recorded[] {
  const events: Recorded[] = [];
  for (const name of ["peer:up", "peer:down", "peer:roles", "duplicate", "error"] as const) {
    p.on(name, (...args: unknown[]) => events.push([name, ...args] as Recorded));
  }
  return events;
}

const ann = (over: Partial<PresenceAnnouncement> & { id: string }): PresenceAnnouncement => ({
  v: 1,
  t: "beat",
  instance: `${over.id}-i1`,
  roles: [],
  interval: 1000,
  since: 500,
  ...over,
});

let world: FakeWorld;
let me: Presence;
let events: Recorded[];

beforeEach(() => {
  world = new FakeWorld();
  me = new Presence({ id: "rpc-1", instance: "me-1", roles: [], interval: 1000 }, world.host());
  events = record(me);
  me.start();
});

afterEach(() => me.stop());

describe("announcing", () => {
  it("says hello on start, beats every interval, and bye on stop", () => {
    expect(world.sent.map((a) => a.t)).toEqual(["hello"]);
    expect(world.sent[0]).toMatchObject({ v: 1, id: "rpc-1", instance: "me-1", interval: 1000, since: 1_000_000 });
    world.advance(3000);
    expect(world.sent.map((a) => a.t)).toEqual(["hello", "beat", "beat", "beat"]);
    me.stop();
    world.advance(5000);
    expect(world.sent.map((a) => a.t)).toEqual(["hello", "beat", "beat", "beat", "bye"]);
  });

  it("announces a change of roles at once, and lists itself first among the front ends with a role", () => {
    me.setRoles(["ws"]);
    expect(world.sent.at(-1)).toMatchObject({ t: "hello", roles: ["ws"] });
    me.receive(ann({ id: "web-2", roles: ["ws", "sse"] }));
    me.receive(ann({ id: "web-3", roles: ["sse"] }));
    expect(me.frontEnds("ws")).toEqual(["rpc-1", "web-2"]);
    expect(me.frontEnds("sse")).toEqual(["web-2", "web-3"]);
    expect(me.frontEnds("other")).toEqual([]);
  });
});

describe("tracking peers", () => {
  it("reports a peer up once, with its roles, and keeps it while it beats", () => {
    me.receive(ann({ id: "web-1", t: "hello", roles: ["ws"] }));
    expect(events).toEqual([["peer:up", { peer: "web-1", instance: "web-1-i1", roles: ["ws"] }]]);
    for (let i = 0; i < 10; i++) {
      world.advance(1000);
      me.receive(ann({ id: "web-1", roles: ["ws"] }));
    }
    expect(events).toHaveLength(1);
    expect(me.peers()).toEqual([{ id: "web-1", instance: "web-1-i1", roles: ["ws"], interval: 1000, lastSeen: world.now }]);
    expect(me.has("web-1")).toBe(true);
  });

  it("answers a newcomer's hello with a beat, so it learns who is there without waiting an interval", () => {
    const before = world.sent.length;
    me.receive(ann({ id: "web-1", t: "hello" }));
    expect(world.sent.slice(before).map((a) => a.t)).toEqual(["beat"]);
    // A flood of hellos is answered at most once per minInterval.
    for (let i = 0; i < 50; i++) me.receive(ann({ id: `x-${i}`, t: "hello" }));
    expect(world.sent.slice(before)).toHaveLength(1);
    world.advance(100);
    me.receive(ann({ id: "web-9", t: "hello" }));
    expect(world.sent.slice(before).filter((a) => a.t === "beat").length).toBeGreaterThanOrEqual(2);
  });

  it("reports heartbeat-timeout after missedBeats of the peer's own interval of silence", () => {
    me.receive(ann({ id: "web-1", interval: 2000 }));
    world.advance(5999);
    expect(me.has("web-1")).toBe(true);
    world.advance(1);
    expect(events.at(-1)).toEqual(["peer:down", { peer: "web-1", instance: "web-1-i1", reason: "heartbeat-timeout" }]);
    expect(me.has("web-1")).toBe(false);
    // Heard again: up again.
    me.receive(ann({ id: "web-1", interval: 2000 }));
    expect(events.at(-1)?.[0]).toBe("peer:up");
  });

  it("clamps the interval a peer declares, so none can make itself immortal or flap", () => {
    me.receive(ann({ id: "immortal", interval: 1e12 }));
    me.receive(ann({ id: "tiny", interval: 1 }));
    // Declared 1 ms, believed 100 ms: three of them pass before it is down.
    world.advance(299);
    expect(me.has("tiny")).toBe(true);
    world.advance(1);
    expect(me.has("tiny")).toBe(false);
    world.advance(180_000);
    expect(me.has("immortal")).toBe(false);
  });

  it("reports peer-closed on the peer's bye, and ignores a bye of another instance", () => {
    me.receive(ann({ id: "web-1" }));
    me.receive(ann({ id: "web-1", t: "bye", instance: "someone-else" }));
    expect(me.has("web-1")).toBe(true);
    me.receive(ann({ id: "web-1", t: "bye" }));
    expect(events.at(-1)).toEqual(["peer:down", { peer: "web-1", instance: "web-1-i1", reason: "peer-closed" }]);
    world.advance(10_000);
    expect(events.filter((e) => e[0] === "peer:down")).toHaveLength(1);
  });

  it("reports a change of roles", () => {
    me.receive(ann({ id: "web-1", roles: ["ws"] }));
    me.receive(ann({ id: "web-1", t: "hello", roles: ["ws", "sse"] }));
    expect(events.at(-1)).toEqual(["peer:roles", { peer: "web-1", roles: ["ws", "sse"], previous: ["ws"] }]);
    me.receive(ann({ id: "web-1", roles: ["sse", "ws"] }));
    expect(events.filter((e) => e[0] === "peer:roles")).toHaveLength(1);
  });

  it("keeps the known instance of a peer while it lives; a newer instance takes over once it is gone", () => {
    me.receive(ann({ id: "web-1", instance: "old", since: 100 }));
    world.advance(500);
    me.receive(ann({ id: "web-1", instance: "new", since: 200, roles: ["ws"] }));
    expect(me.peers()[0]).toMatchObject({ instance: "old", roles: [] });
    // The old one crashed: no beat from it; the new one keeps beating.
    for (let i = 0; i < 3; i++) {
      world.advance(1000);
      me.receive(ann({ id: "web-1", instance: "new", since: 200, roles: ["ws"] }));
    }
    expect(events.map((e) => e[0])).toEqual(["peer:up", "peer:down", "peer:up"]);
    expect(me.peers()[0]).toMatchObject({ instance: "new", roles: ["ws"] });
  });

  it("switches to an older instance of a peer without a down/up: the one known here was the duplicate", () => {
    me.receive(ann({ id: "web-1", instance: "newcomer", since: 300 }));
    me.receive(ann({ id: "web-1", instance: "holder", since: 100 }));
    me.receive(ann({ id: "web-1", t: "bye", instance: "newcomer", since: 300 }));
    expect(events.map((e) => e[0])).toEqual(["peer:up"]);
    expect(me.peers()[0]).toMatchObject({ instance: "holder" });
  });

  it("reports every peer down (closed) when it stops, and hears nothing after", () => {
    me.receive(ann({ id: "a" }));
    me.receive(ann({ id: "b" }));
    me.stop();
    expect(events.slice(-2)).toEqual([
      ["peer:down", { peer: "a", instance: "a-i1", reason: "closed" }],
      ["peer:down", { peer: "b", instance: "b-i1", reason: "closed" }],
    ]);
    me.receive(ann({ id: "c" }));
    expect(me.peers()).toEqual([]);
  });

  it("ignores its own announcements", () => {
    for (const a of world.sent) me.receive(a);
    expect(events).toEqual([]);
  });
});

describe("duplicate ids", () => {
  it("fails the newcomer with ERR_DUPLICATE_ID when an older instance holds the id", () => {
    me.receive(ann({ id: "rpc-1", instance: "holder", since: 10 }));
    const dup = events.find((e) => e[0] === "duplicate");
    expect(dup?.[1]).toMatchObject({ code: ErrorCode.DUPLICATE_ID, name: "DuplicateIdError" });
    expect(me.live).toBe(false);
    expect(world.sent.at(-1)).toMatchObject({ t: "bye", instance: "me-1" });
    world.advance(10_000);
    expect(world.sent.at(-1)?.t).toBe("bye");
  });

  it("keeps the id when the other instance is the newcomer, and tells it at once", () => {
    const before = world.sent.length;
    me.receive(ann({ id: "rpc-1", t: "hello", instance: "newcomer", since: 2_000_000 }));
    expect(events).toEqual([]);
    expect(me.live).toBe(true);
    expect(world.sent.slice(before).map((a) => a.t)).toEqual(["beat"]);
  });

  it("breaks a tie of start times by instance id, the same way on both sides", () => {
    const other = new Presence({ id: "rpc-1", instance: "me-2", interval: 1000 }, world.host());
    const otherEvents = record(other);
    other.start();
    // Both started at the same virtual instant.
    me.receive(world.sent.at(-1));
    other.receive(world.sent.find((a) => a.instance === "me-1"));
    expect(me.live).toBe(true);
    expect(other.live).toBe(false);
    expect(otherEvents.map((e) => e[0])).toEqual(["duplicate"]);
  });
});

describe("bad announcements", () => {
  it("drops what cannot be read with a typed error, and changes nothing", () => {
    const bad: unknown[] = [
      null,
      "hello",
      [],
      { ...ann({ id: "x" }), v: 2 },
      { ...ann({ id: "x" }), t: "nope" },
      { ...ann({ id: "" }) },
      { ...ann({ id: "x".repeat(257) }) },
      { ...ann({ id: "x" }), instance: 5 },
      { ...ann({ id: "x" }), roles: "ws" },
      { ...ann({ id: "x" }), roles: Array.from({ length: 17 }, (_, i) => `r${i}`) },
      { ...ann({ id: "x" }), roles: [""] },
      { ...ann({ id: "x" }), interval: Number.NaN },
      { ...ann({ id: "x" }), interval: -1 },
      { ...ann({ id: "x" }), since: "yesterday" },
    ];
    for (const b of bad) {
      expect(readAnnouncement(b)).toBeUndefined();
      me.receive(b);
    }
    expect(events.map((e) => e[0])).toEqual(bad.map(() => "error"));
    expect(events.every((e) => e[0] !== "error" || e[1].code === NatsErrorCode.BAD_PRESENCE)).toBe(true);
    expect(me.peers()).toEqual([]);
  });

  it("reads a valid announcement, ignoring unknown fields and repeated roles", () => {
    expect(readAnnouncement({ ...ann({ id: "x", roles: ["ws", "ws"] }), extra: { deep: 1 } })).toEqual(ann({ id: "x", roles: ["ws"] }));
  });
});
