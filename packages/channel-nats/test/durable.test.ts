import { once } from "node:events";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { MessageChannel, type DropInfo } from "@sfn/channel-core";
import { encodeMessageBody } from "@sfn/channel-core/internal";
import { startNatsServer, until, type NatsServer } from "@sfn/test-utils";
import {
  PUBLISHER_HEADER,
  SEQUENCE_HEADER,
  SubjectSpace,
  durableConsumerConfig,
  durableStreamConfig,
  nats,
  type NatsDurableOptions,
  type NatsRouterOptions,
} from "../src/index.js";

// Durable mode against a real JetStream server: stored, acknowledged after the listener ran,
// resumed across a subscriber's absence, once and in order per publisher, limits reported.

let server: NatsServer;
const channels: MessageChannel[] = [];
const conns: NatsConnection[] = [];
let ns = 0;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
});

afterAll(async () => {
  await Promise.all(channels.map((c) => c.close({ drainTimeout: 0 })));
  await Promise.all(conns.map((c) => c.close()));
  await server?.stop();
});

function make(id: string, namespace: string, durable: NatsDurableOptions = {}, extra: Partial<NatsRouterOptions> = {}): MessageChannel {
  const ch = new MessageChannel({ id, router: nats({ servers: server.url, namespace, durable, heartbeat: { interval: 200 }, ...extra }) });
  ch.on("error", () => {});
  channels.push(ch);
  return ch;
}

async function closeChannel(ch: MessageChannel): Promise<void> {
  channels.splice(channels.indexOf(ch), 1);
  await ch.close();
}

const space = () => `durable-${++ns}`;

async function client(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  conns.push(nc);
  return nc;
}

/**
 * Publishes as a durable publisher instance "x" would (its sequence number `seq`), with raw
 * JetStream: to put messages in the stream in orders a real publisher only makes after failures.
 */
async function rawPublish(nc: NatsConnection, namespace: string, seq: number, data: unknown, msgID = `x-${seq}`): Promise<void> {
  const h = headers();
  h.set("Sfn-From", "raw");
  h.set(PUBLISHER_HEADER, "x");
  h.set(SEQUENCE_HEADER, String(seq));
  await jetstream(nc).publish(`sfn.${namespace}.d.t`, encodeMessageBody("t", data), { msgID, headers: h });
}

/** The stream and the consumer of service "sub", created as an operator would (setup: "existing"). */
async function precreated(namespace: string, consumerOptions: NatsDurableOptions = {}) {
  const nc = await client();
  const jsm = await jetstreamManager(nc);
  const ns = new SubjectSpace(namespace);
  const stream = durableStreamConfig(ns, {}, { maxMessages: 1000, maxBytes: 1 << 20, maxAge: 0 });
  await jsm.streams.add(stream);
  const consumer = durableConsumerConfig(ns, "sub", consumerOptions);
  await jsm.consumers.add(stream.name, consumer);
  return { nc, jsm, stream, consumer };
}

it("delivers topic publishes through the stream, in order, to every subscribed service once", async () => {
  const namespace = space();
  const pub = make("pub", namespace);
  const a = make("sub-a", namespace);
  const b = make("sub-b", namespace);
  const gotA: number[] = [];
  const gotB: number[] = [];
  a.subscribe("orders.*", (n) => gotA.push(n as number));
  a.subscribe("orders.>", () => {}); // two patterns, one delivery per pattern as in the mesh
  b.subscribe("orders.eu", (n) => gotB.push(n as number));
  await Promise.all([pub.ready(), a.ready(), b.ready()]);
  for (let i = 0; i < 200; i++) pub.publish(i % 2 ? "orders.eu" : "orders.us", i);
  await until(() => gotA.length === 200 && gotB.length === 100, 20_000, "delivery");
  expect(gotA).toEqual(Array.from({ length: 200 }, (_, i) => i));
  expect(gotB).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i + 1));
});

it("keeps what is published while a subscriber is away and hands it over when it is back", async () => {
  const namespace = space();
  const pub = make("pub", namespace);
  let sub = make("sub", namespace);
  sub.subscribe("t", () => {});
  await Promise.all([pub.ready(), sub.ready()]);
  await closeChannel(sub);
  for (let i = 0; i < 50; i++) pub.publish("t", i);
  await closeChannel(pub); // close waits for the server's acknowledgements
  sub = make("sub", namespace);
  const got: number[] = [];
  sub.subscribe("t", (n) => got.push(n as number));
  await sub.ready();
  await until(() => got.length === 50, 20_000, "the backlog");
  expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
});

it("with durable.handled, a restarted service gets what it had not handled, in order, and nothing from before it first subscribed", async () => {
  const namespace = space();
  // Published before the service's consumer existed: never for it, not even after a restart.
  const early = make("early", namespace);
  await early.ready();
  for (let i = 0; i < 5; i++) early.publish("t", `early ${i}`);
  await closeChannel(early);

  const pub = make("pub", namespace);
  let sub = make("sub", namespace);
  const stored: { n: number; publisher: string; seq: number }[] = [];
  sub.subscribe("t", (n, meta) => stored.push({ n: n as number, ...meta.position! }));
  await Promise.all([pub.ready(), sub.ready()]);
  for (let i = 0; i < 10; i++) pub.publish("t", i);
  await until(() => stored.length === 10, 20_000, "the first ten");
  expect(stored.map((s) => s.n)).toEqual([...Array(10).keys()]);
  expect(stored.map((s) => s.seq)).toEqual([...Array(10).keys()].map((i) => i + 1));
  expect(new Set(stored.map((s) => s.publisher)).size).toBe(1);
  await closeChannel(sub);
  for (let i = 10; i < 15; i++) pub.publish("t", i);
  await closeChannel(pub);

  // As after a crash that kept the effects of the first 7 only (their positions were stored with them).
  const positions = new Map([[stored[0]!.publisher, stored[6]!.seq]]);
  const got: unknown[] = [];
  sub = make("sub", namespace, { handled: async () => positions });
  sub.subscribe("t", (n, meta) => got.push([n, meta.position?.seq]));
  await sub.ready();
  await until(() => got.length >= 8, 20_000, "what was not handled");
  // One more message after them says nothing else is coming (they are handed over in stream order).
  const last = make("last", namespace);
  await last.ready();
  last.publish("t", "last");
  await until(() => got.length >= 9, 20_000, "the last one");
  expect(got).toEqual([...[7, 8, 9, 10, 11, 12, 13, 14].map((n) => [n, n + 1]), ["last", 1]]);
});

it("a service's own durable publishes reach its listeners with their position: with durable.handled, a restart does not repeat them", async () => {
  const namespace = space();
  let ch = make("self", namespace);
  const stored: { n: number; publisher?: string; seq?: number }[] = [];
  ch.subscribe("t", (n, meta) => stored.push({ n: n as number, ...meta.position }));
  await ch.ready();
  for (let i = 0; i < 5; i++) ch.publish("t", i);
  expect(stored.map((s) => [s.n, s.seq])).toEqual([...Array(5).keys()].map((i) => [i, i + 1]));
  await closeChannel(ch);
  const positions = new Map([[stored[0]!.publisher!, 5]]);
  ch = make("self", namespace, { handled: () => positions });
  const again: unknown[] = [];
  ch.subscribe("t", (n) => again.push(n));
  await ch.ready();
  // What the consumer re-reads (its own earlier messages, from another instance) is recognised;
  // a message from another service after them shows the re-reading is over.
  const other = make("other", namespace);
  await other.ready();
  other.publish("t", "after");
  await until(() => again.length >= 1, 20_000, "the other service's message");
  expect(again).toEqual(["after"]);
});

it("a configuration the server refuses rejects ready() at once with its reason, and publish() then runs no listener", async () => {
  const namespace = space();
  // Every stream creation request the server gets: a refusal that cannot change is not retried.
  const nc = await client();
  const creates: string[] = [];
  nc.subscribe(`$JS.API.STREAM.CREATE.SFN_${namespace}`, { callback: (_e, m) => void creates.push(m.subject) });
  await nc.flush();
  const ch = make("r3", namespace, { replicas: 3 }); // one server, not a cluster
  const got: unknown[] = [];
  ch.subscribe("t", (m) => got.push(m));
  await expect(ch.ready()).rejects.toMatchObject({ code: "ERR_NATS_DURABLE", message: expect.stringContaining("replicas") });
  await nc.flush();
  expect(creates).toHaveLength(1);
  expect(() => ch.publish("t", 1)).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  expect(got).toEqual([]);
});

it("refuses a durable.handled that fails or returns something else than positions, from ready()", async () => {
  const namespace = space();
  const bad = make("bad", namespace, { handled: () => new Map([["x", -1]]) });
  bad.subscribe("t", () => {});
  await expect(bad.ready()).rejects.toMatchObject({ code: "ERR_NATS_DURABLE", message: expect.stringContaining("durable.handled") });
  const failing = make("failing", namespace, {
    handled: async () => {
      throw new Error("store offline");
    },
  });
  failing.subscribe("t", () => {});
  await expect(failing.ready()).rejects.toMatchObject({ code: "ERR_NATS_DURABLE", message: expect.stringContaining("store offline") });
  for (const [i, wrong] of [undefined, null, [["x", 1]], "x"].entries()) {
    const ch = make(`wrong-${i}`, namespace, { handled: () => wrong as never });
    ch.subscribe("t", () => {});
    await expect(ch.ready()).rejects.toMatchObject({
      code: "ERR_NATS_DURABLE",
      message: expect.stringContaining("must return a Map or a record"),
    });
  }
  expect(() => make("x", namespace, { handled: 42 as never })).toThrow("durable.handled must be a function");
});

it("hands a message stored twice (same publisher and sequence) to listeners once", async () => {
  const namespace = space();
  const sub = make("sub", namespace);
  const got: unknown[] = [];
  sub.subscribe("t", (m) => got.push(m));
  await sub.ready();
  const nc = await client();
  // As a publisher retrying past the stream's duplicate window would: two copies in the stream.
  await rawPublish(nc, namespace, 1, "m1");
  await rawPublish(nc, namespace, 1, "m1", "x-1-again");
  await rawPublish(nc, namespace, 2, "m2");
  await until(() => got.length >= 2, 20_000, "delivery");
  // A third would show up behind the second; one more round trip through the stream says it did not.
  await rawPublish(nc, namespace, 3, "m3");
  await until(() => got.length >= 3, 20_000, "the last one");
  expect(got).toEqual(["m1", "m2", "m3"]);
});

it("messages held back for order do not stall the consumer: an earlier message stored far behind later ones still comes first", async () => {
  const namespace = space();
  // As after a broker failure: the publisher's message 2 was retried and stored after 3..100.
  const sub = make("sub", namespace, { maxAckPending: 20, gapTimeout: 120_000 });
  const got: unknown[] = [];
  sub.subscribe("t", (m) => got.push(m));
  await sub.ready();
  const nc = await client();
  const publish = (seq: number) => rawPublish(nc, namespace, seq, seq);
  await publish(1);
  for (let seq = 3; seq <= 100; seq++) await publish(seq);
  await publish(2);
  await until(() => got.length === 100, 20_000, "all hundred, the late-stored one first");
  expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
});

it("a publish the server cannot store yet (its stream is gone: no responders) is sent again until stored, once", async () => {
  const namespace = space();
  const pub = make("pub", namespace, { publishTimeout: 500 });
  const drops: DropInfo[] = [];
  pub.on("drop", (d) => drops.push(d));
  await pub.ready();
  const nc = await client();
  const jsm = await jetstreamManager(nc);
  const stream = durableStreamConfig(new SubjectSpace(namespace), {}, { maxMessages: 1000, maxBytes: 1 << 20, maxAge: 0 });
  await jsm.streams.delete(stream.name);
  // Watches the publishes on the wire: the first message sent three times is two refused rounds.
  let attempts = 0;
  nc.subscribe(`sfn.${namespace}.d.>`, { callback: (_e, m) => void (m.headers?.get(SEQUENCE_HEADER) === "1" && attempts++) });
  await nc.flush();
  for (let i = 0; i < 5; i++) pub.publish("t", i);
  await until(() => attempts >= 3, 20_000, "two refused rounds");
  await jsm.streams.add(stream);
  await closeChannel(pub); // waits for the server's acknowledgements
  expect(drops).toEqual([]);
  const info = await jsm.streams.info(stream.name);
  expect(info.state.messages).toBe(5);
});

it.each<[string, NatsDurableOptions, boolean]>([
  ["", {}, false],
  [", also with durable.handled", { handled: () => new Map() }, false],
  // Published at once after it left, while the server may still hold its last pull request: the
  // server then counts the discarded messages as delivered to it, though nobody acknowledged them.
  [", published in a burst as it leaves", {}, true],
])("reports what a stream limit discarded while a subscriber was away (drop window-full)%s", async (_, durable, burst) => {
  const namespace = space();
  const window = { maxMessages: 10 };
  let sub = make("sub", namespace, durable, { window });
  sub.subscribe("t", () => {});
  await sub.ready();
  // The stream is the subscriber's (10 messages); a burst needs a publisher whose own queue is larger.
  const pub = make("pub", namespace, {}, burst ? {} : { window });
  await pub.ready();
  await closeChannel(sub);
  const pubDrops: DropInfo[] = [];
  pub.on("drop", (d) => pubDrops.push(d));
  for (let i = 0; i < 30; i++) {
    // The publisher's own queue has the same bound: wait for its room rather than drop here.
    if (!pub.publish("t", i)) await once(pub, "drain");
  }
  await closeChannel(pub);
  expect(pubDrops).toEqual([]);
  sub = make("sub", namespace, durable, { window });
  const got: number[] = [];
  const drops: DropInfo[] = [];
  sub.on("drop", (d) => drops.push(d));
  sub.subscribe("t", (n) => got.push(n as number));
  await sub.ready();
  await until(() => got.length === 10 && drops.reduce((n, d) => n + d.count, 0) === 20, 20_000, "the kept ten and the drop report");
  expect(got).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
  expect(drops.every((d) => d.reason === "window-full")).toBe(true);
});

it("refuses durable mode on a server without JetStream with a clear error", async () => {
  const plain = await startNatsServer();
  try {
    const ch = new MessageChannel({ id: "x", router: nats({ servers: plain.url, durable: true }) });
    ch.on("error", () => {});
    await expect(ch.ready()).rejects.toMatchObject({ code: "ERR_NATS_DURABLE", message: expect.stringContaining("JetStream") });
    await ch.close();
  } finally {
    await plain.stop();
  }
});

it("reports what a service that stayed away past resumeTimeout missed as peer-gone", async () => {
  const namespace = space();
  const durable = { resumeTimeout: 1000 };
  const pub = make("pub", namespace, durable);
  const sub = make("sub", namespace, durable);
  sub.subscribe("t", () => {});
  const drops: DropInfo[] = [];
  pub.on("drop", (d) => drops.push(d));
  await Promise.all([pub.ready(), sub.ready()]);
  await until(() => pub.peers().some((p) => p.id === "sub"), 20_000, "sub in presence");
  const down = once(pub, "link:down");
  await closeChannel(sub);
  await down;
  for (let i = 0; i < 20; i++) pub.publish("t", i);
  await until(() => drops.length > 0, 20_000, "the peer-gone report");
  expect(drops).toEqual([{ peer: "sub", count: 20, reason: "peer-gone" }]);
});

it("sets up stream and consumers safely when 20 services start at once", async () => {
  const namespace = space();
  const services = Array.from({ length: 20 }, (_, i) => make(`svc-${i}`, namespace));
  const got = services.map(() => [] as unknown[]);
  services.forEach((s, i) => {
    s.subscribe("hello", (m) => got[i]!.push(m));
  });
  await Promise.all(services.map((s) => s.ready()));
  services[0]!.publish("hello", "world");
  // The publisher's own listener gets it locally; every other service through its consumer.
  await until(() => got.every((g) => g.length === 1), 20_000, "delivery to all 20");
  expect(got.flat()).toEqual(Array(20).fill("world"));
});

it("binds to a stream and consumers that operators pre-created (setup: existing), and refuses when they are missing", async () => {
  const namespace = space();
  await precreated(namespace);
  const pub = make("pub", namespace, { setup: "existing" });
  const sub = make("sub", namespace, { setup: "existing" });
  const got: unknown[] = [];
  sub.subscribe("t", (m) => got.push(m));
  await Promise.all([pub.ready(), sub.ready()]);
  pub.publish("t", 1);
  await until(() => got.length === 1, 20_000, "delivery");
  const stranger = make("stranger", namespace, { setup: "existing" });
  stranger.subscribe("t", () => {});
  await expect(stranger.ready()).rejects.toMatchObject({ code: "ERR_NATS_DURABLE", message: expect.stringContaining("does not exist") });
});

it("setup existing: messages a crashed instance left unacknowledged come first, in order, once", async () => {
  const namespace = space();
  const { nc, jsm, stream, consumer } = await precreated(namespace, { ackWait: 1000 });
  const pub = make("pub", namespace, { setup: "existing" });
  await pub.ready();
  const stored = async (n: number) => {
    while ((await jsm.streams.info(stream.name)).state.messages < n) await new Promise((r) => setTimeout(r, 20));
  };
  for (let i = 0; i < 5; i++) pub.publish("t", i);
  await stored(5);
  // The crashed instance: handed the first five, never acknowledged them.
  const raw = await jetstream(nc).consumers.get(stream.name, consumer.durable_name);
  const fetched: number[] = [];
  for await (const m of await raw.fetch({ max_messages: 5, expires: 2000 })) fetched.push(m.seq);
  expect(fetched).toHaveLength(5);
  // Then newer messages of the same publisher, which the server hands over before redelivering.
  for (let i = 5; i < 10; i++) pub.publish("t", i);
  await stored(10);
  const sub = make("sub", namespace, { setup: "existing", ackWait: 1000 });
  const got: unknown[] = [];
  sub.subscribe("t", (m) => got.push(m));
  await sub.ready();
  await until(() => got.length >= 10, 20_000, "delivery");
  // The server's redeliveries (after ackWait) are recognised and acknowledged, not handed over again.
  while ((await jsm.consumers.info(stream.name, consumer.durable_name)).num_ack_pending > 0) await new Promise((r) => setTimeout(r, 50));
  pub.publish("t", 10);
  await until(() => got.length >= 11, 20_000, "the last one");
  expect(got).toEqual([...Array(11).keys()]);
});

it("delivers volatile publishes in durable mode too, and a service's own messages only locally", async () => {
  const namespace = space();
  const a = make("a", namespace);
  const b = make("b", namespace);
  const gotA: unknown[] = [];
  const gotB: unknown[] = [];
  a.subscribe("t", (m) => gotA.push(m));
  b.subscribe("t", (m) => gotB.push(m));
  await Promise.all([a.ready(), b.ready()]);
  a.publish("t", "v", { volatile: true });
  a.publish("t", "d");
  await until(() => gotB.length === 2, 20_000, "delivery to b");
  // b's own publish comes back to b through its consumer after a's two: a sees it, b only once.
  b.publish("t", "from b");
  await until(() => gotA.length === 3, 20_000, "delivery to a");
  b.publish("t", "last");
  await until(() => gotA.length === 4, 20_000, "the last one at a");
  expect(gotA).toEqual(["v", "d", "from b", "last"]);
  expect(gotB).toEqual(["v", "d", "from b", "last"]);
});

it("a close while the consumer is still being set up (a subscription right after ready()) is no error", async () => {
  const namespace = space();
  const ch = make("late", namespace);
  const errors: Error[] = [];
  ch.on("error", (e) => errors.push(e));
  await ch.ready();
  ch.subscribe("t", () => {});
  await closeChannel(ch);
  // Whatever the consumer's setup reports comes before close() resolves (it waits for the start and the connection).
  expect(errors).toEqual([]);
});

it("setup existing: a consumer pre-created on a stream that already holds messages hands over only what comes after it", async () => {
  const namespace = space();
  const nc = await client();
  const jsm = await jetstreamManager(nc);
  const ns = new SubjectSpace(namespace);
  const stream = durableStreamConfig(ns, {}, { maxMessages: 1000, maxBytes: 1 << 20, maxAge: 0 });
  await jsm.streams.add(stream);
  for (let seq = 1; seq <= 3; seq++) await rawPublish(nc, namespace, seq, `before ${seq}`);
  await jsm.consumers.add(stream.name, durableConsumerConfig(ns, "sub", {}));
  const sub = make("sub", namespace, { setup: "existing" });
  const got: unknown[] = [];
  const drops: DropInfo[] = [];
  sub.on("drop", (d) => drops.push(d));
  sub.subscribe("t", (m) => got.push(m));
  await sub.ready();
  await rawPublish(nc, namespace, 4, "after");
  await until(() => got.length >= 1, 20_000, "the message after the consumer");
  // A message of another publisher after it: anything read from before would have come first.
  const pub = make("pub", namespace, { setup: "existing" });
  await pub.ready();
  pub.publish("t", "last");
  await until(() => got.length >= 2, 20_000, "the last message");
  expect(got).toEqual(["after", "last"]);
  expect(drops).toEqual([]);
});
