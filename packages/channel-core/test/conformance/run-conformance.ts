/**
 * The behaviour every router must give a `MessageChannel`, run against each of them (the
 * Phoenix.PubSub shared-test / socket.io `testSuite(createAdapter)` pattern): the mesh and the
 * in-memory router here, the NATS router in `@sfn/channel-nats`. Type-level behaviour of typed
 * topics is checked by `pnpm typecheck` (typed-topics.test.ts), not here.
 *
 * Imports go through the package name, never `../../src`: another package's tests import this
 * file, and there the channels are built from the package's own copy of core.
 */
import { until } from "@sfn/test-utils";
import { ErrorCode, type ChannelError, type MessageChannel, type MessageMeta, type TopicMap } from "@sfn/channel-core";

/** Channels that can all reach each other, and how to release them. */
export interface ConformanceGroup {
  channels: MessageChannel[];
  /** Closes every channel and whatever the target started for them. */
  close(): Promise<void>;
}

/**
 * Builds one channel per id, all able to reach each other (the mesh: linked pairwise, links up;
 * a broker: connected and `ready()`). Channels may be created with a topic map only by cast.
 */
export type MakeChannels = (ids: readonly string[]) => Promise<ConformanceGroup>;

/** What a subscriber received, in order. */
export interface Received<T = unknown> {
  data: T[];
  meta: MessageMeta[];
}

/** Records what `ch` receives on `pattern`. */
export function record<T = unknown>(ch: MessageChannel, pattern: string): Received<T> {
  const out: Received<T> = { data: [], meta: [] };
  ch.subscribe(pattern, (data, meta) => {
    out.data.push(data as T);
    out.meta.push(meta);
  });
  return out;
}

let probes = 0;

/**
 * Resolves once a message from `from` reaches `to`, proving that every subscription `to` made
 * before this call is in place on the path (both routers keep a subscriber's interest changes,
 * and a publisher's messages, in order). Probes are sent until one arrives: no fixed sleep.
 */
export async function reach(from: MessageChannel, to: MessageChannel): Promise<void> {
  const topic = `conformance.probe.${++probes}`;
  let got = false;
  const off = to.subscribe(topic, () => {
    got = true;
  });
  try {
    await until(
      () => {
        if (!got) from.publish(topic, 0, { local: false, volatile: true });
        return got;
      },
      20_000,
      `a probe from ${from.id} to ${to.id}`,
    );
  } finally {
    off();
  }
}

/** Everything `from` published before this call has reached `to` (one publisher's messages stay in order). */
async function flushed(from: MessageChannel, to: MessageChannel): Promise<void> {
  const topic = `conformance.flush.${++probes}`;
  let got = false;
  const off = to.subscribe(topic, () => {
    got = true;
  });
  await reach(from, to);
  from.publish(topic, 0, { local: false });
  await until(() => got, 20_000, `a flush from ${from.id} to ${to.id}`);
  off();
}

/** Runs the shared behaviour tests against the channels `make` builds. */
export function runConformance(name: string, make: MakeChannels): void {
  describe(`router conformance: ${name}`, () => {
    let group: ConformanceGroup | undefined;
    const channels = async (...ids: string[]): Promise<MessageChannel[]> => {
      group = await make(ids);
      for (const ch of group.channels) ch.on("error", () => {});
      return group.channels;
    };
    afterEach(async () => {
      await group?.close();
      group = undefined;
    });

    it("publish reaches every subscriber once, local ones included, with topic, sender and pattern", async () => {
      const [a, b, c] = (await channels("conf-a", "conf-b", "conf-c")) as [MessageChannel, MessageChannel, MessageChannel];
      const atA = record(a, "greeting");
      const atB = record(b, "greeting");
      const atC = record(c, "greeting");
      await reach(a, b);
      await reach(a, c);
      expect(a.publish("greeting", "Hello, World!")).toBe(true);
      await flushed(a, b);
      await flushed(a, c);
      for (const got of [atA, atB, atC]) {
        expect(got.data).toEqual(["Hello, World!"]);
        expect(got.meta).toEqual([{ topic: "greeting", from: "conf-a", pattern: "greeting" }]);
      }
    });

    it("a service that did not subscribe receives nothing", async () => {
      const [a, b, c] = (await channels("conf-a", "conf-b", "conf-c")) as [MessageChannel, MessageChannel, MessageChannel];
      const atB = record(b, "news");
      const atC = record(c, "other");
      await reach(a, b);
      await reach(a, c);
      a.publish("news", 1);
      await flushed(a, b);
      await flushed(a, c);
      expect(atB.data).toEqual([1]);
      expect(atC.data).toEqual([]);
    });

    it("wildcards: * matches one token, > one or more; each matching pattern's listeners get the message once", async () => {
      const [a, b] = (await channels("conf-a", "conf-b")) as [MessageChannel, MessageChannel];
      const star = record<number>(b, "orders.*");
      const tail = record<number>(b, "orders.>");
      const exact = record<number>(b, "orders.new");
      const mid = record<number>(b, "*.new.eu");
      await reach(a, b);
      a.publish("orders.new", 1);
      a.publish("orders.new.eu", 2);
      a.publish("orders", 3);
      a.publish("refunds.new.eu", 4);
      await flushed(a, b);
      expect(star.data).toEqual([1]);
      expect(tail.data).toEqual([1, 2]);
      expect(exact.data).toEqual([1]);
      expect(mid.data).toEqual([2, 4]);
      expect(tail.meta.map((m) => [m.topic, m.pattern])).toEqual([
        ["orders.new", "orders.>"],
        ["orders.new.eu", "orders.>"],
      ]);
    });

    it("one publisher's messages arrive in the order published", async () => {
      const [a, b] = (await channels("conf-a", "conf-b")) as [MessageChannel, MessageChannel];
      const got = record<number>(b, "seq.>");
      await reach(a, b);
      const sent = Array.from({ length: 500 }, (_, i) => i);
      for (const i of sent) a.publish(`seq.${i % 3}`, i);
      await until(() => got.data.length === sent.length, 20_000, "all 500 messages");
      expect(got.data).toEqual(sent);
    });

    it("{ to } reaches only the named services; naming this one delivers locally; local: false skips it", async () => {
      const [a, b, c] = (await channels("conf-a", "conf-b", "conf-c")) as [MessageChannel, MessageChannel, MessageChannel];
      const atA = record(a, "direct");
      const atB = record(b, "direct");
      const atC = record(c, "direct");
      await reach(a, b);
      await reach(a, c);
      a.publish("direct", "for-b", { to: "conf-b" });
      a.publish("direct", "for-a-and-c", { to: ["conf-a", "conf-c"] });
      a.publish("direct", "not-local", { local: false });
      await flushed(a, b);
      await flushed(a, c);
      expect(atA.data).toEqual(["for-a-and-c"]);
      expect(atB.data).toEqual(["for-b", "not-local"]);
      expect(atC.data).toEqual(["for-a-and-c", "not-local"]);
    });

    it("{ to } a service that does not exist is reported through drop (no-link)", async () => {
      const [a] = (await channels("conf-a", "conf-b")) as [MessageChannel, MessageChannel];
      const drop = new Promise((resolve) => a.once("drop", resolve));
      a.publish("direct", "lost", { to: "conf-nobody" });
      expect(await drop).toEqual({ peer: "conf-nobody", count: 1, reason: "no-link" });
    });

    it("unsubscribe (returned function, and by pattern) stops delivery there and only there", async () => {
      const [a, b] = (await channels("conf-a", "conf-b")) as [MessageChannel, MessageChannel];
      const first: unknown[] = [];
      const second: unknown[] = [];
      const kept: unknown[] = [];
      const off = b.subscribe("x.one", (d) => void first.push(d));
      b.subscribe("x.two", (d) => void second.push(d));
      b.subscribe("x.>", (d) => void kept.push(d));
      await reach(a, b);
      a.publish("x.one", 1);
      a.publish("x.two", 2);
      await flushed(a, b);
      off();
      b.unsubscribe("x.two");
      await reach(a, b);
      a.publish("x.one", 3);
      a.publish("x.two", 4);
      await flushed(a, b);
      expect(first).toEqual([1]);
      expect(second).toEqual([2]);
      expect(kept).toEqual([1, 2, 3, 4]);
    });

    it("payloads keep their types across the router: objects, Maps, Sets, Buffers, dates, bigints, nulls", async () => {
      interface Topics extends TopicMap {
        "user.created": { id: number; tags: Set<string>; meta: Map<string, unknown>; at: Date; big: bigint; raw: Buffer; none: null };
      }
      const [a, b] = (await channels("conf-a", "conf-b")) as unknown as [MessageChannel<Topics>, MessageChannel<Topics>];
      const got: Topics["user.created"][] = [];
      b.subscribe("user.created", (d) => void got.push(d));
      await reach(a as unknown as MessageChannel, b as unknown as MessageChannel);
      const sent: Topics["user.created"] = {
        id: 7,
        tags: new Set(["a", "b"]),
        meta: new Map<string, unknown>([["k", [1, "two"]]]),
        at: new Date(0),
        big: 2n ** 70n,
        raw: Buffer.from([0, 1, 255]),
        none: null,
      };
      a.publish("user.created", sent);
      await until(() => got.length === 1, 20_000, "the typed message");
      expect(got[0]).toEqual(sent);
      expect(got[0]!.raw).toBeInstanceOf(Uint8Array);
    });

    it("a payload over the router's limit throws ERR_PAYLOAD before any side effect, local delivery included", async () => {
      const [a, b] = (await channels("conf-a", "conf-b")) as [MessageChannel, MessageChannel];
      const atA = record(a, "big");
      const atB = record(b, "big");
      await reach(a, b);
      let error: ChannelError | undefined;
      try {
        a.publish("big", Buffer.alloc(2 * 1024 * 1024));
      } catch (e) {
        error = e as ChannelError;
      }
      expect(error?.code).toBe(ErrorCode.PAYLOAD);
      a.publish("big", "small");
      await flushed(a, b);
      expect(atA.data).toEqual(["small"]);
      expect(atB.data).toEqual(["small"]);
    });

    it("a subscriber that throws is reported, and the others still receive", async () => {
      const [a, b] = (await channels("conf-a", "conf-b")) as [MessageChannel, MessageChannel];
      const errors: ChannelError[] = [];
      b.on("error", (e) => errors.push(e));
      b.subscribe("boom", () => {
        throw new Error("boom");
      });
      const after = record(b, "boom");
      await reach(a, b);
      a.publish("boom", 1);
      await flushed(a, b);
      expect(after.data).toEqual([1]);
      expect(errors.map((e) => e.code)).toEqual([ErrorCode.SUBSCRIBER]);
    });

    it("peers() lists the other services; close() ends the channel and later publishes throw ERR_CLOSED", async () => {
      const [a, b] = (await channels("conf-a", "conf-b")) as [MessageChannel, MessageChannel];
      await reach(a, b);
      await until(() => a.peers().some((p) => p.id === "conf-b" && p.state === "up"), 20_000, "conf-b in peers()");
      expect(a.peers().map((p) => p.id)).not.toContain("conf-a");
      await a.close();
      expect(a.isClosed).toBe(true);
      expect(() => a.publish("x", 1)).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
    });
  });
}
