import { type DropInfo, ErrorCode, MessageChannel } from "@sfn/channel-core";
import { encodeMessageBody, encodeMessageData } from "@sfn/channel-core/internal";
import {
  freePort,
  nextEvent,
  startNatsCluster,
  startNatsServer,
  until,
  withTimeout,
  type NatsCluster,
  type NatsServer,
} from "@sfn/test-utils";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { withWs } from "../../channel-ws/src/index.js";
import { FROM_HEADER, nats, type NatsRouterOptions } from "../src/index.js";
import { TOPIC_FRAME_MARK, senderPrefix } from "../src/sender-frame.js";

// NatsRouter behaviour beyond the shared conformance suite: the id claim, max_payload, the
// window while the broker is away, and presence-driven link events. Real nats-servers on free ports.

let server: NatsServer;
let namespaces = 0;
const channels: MessageChannel[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.close({ drainTimeout: 500 })));
});

afterAll(async () => {
  await server?.stop();
});

function channel(id: string, options: NatsRouterOptions & { servers: string | string[] }): MessageChannel {
  const ch = new MessageChannel({ id, router: nats({ heartbeat: { interval: 100 }, reconnectTimeWait: 50, ...options }) });
  ch.on("error", () => {});
  channels.push(ch);
  return ch;
}

describe("NatsRouter", () => {
  it("a refused id claim in durable mode: what was published before ready() is reported as dropped, later publishes and front-end requests throw ERR_CLOSED", async () => {
    const js = await startNatsServer({ jetstream: true });
    try {
      const namespace = `dup-durable-${++namespaces}`;
      const first = channel("svc", { servers: js.url, namespace });
      await first.ready();
      const second = channel("svc", { servers: js.url, namespace, durable: {} });
      const drops: DropInfo[] = [];
      second.on("drop", (d) => drops.push(d));
      second.publish("t", "before ready");
      await expect(second.ready()).rejects.toMatchObject({ code: ErrorCode.DUPLICATE_ID });
      await until(() => drops.length > 0, 5000, "the drop report");
      expect(drops[0]).toMatchObject({ reason: "disconnected" });
      expect(() => second.publish("t", "after")).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
    } finally {
      await Promise.all(channels.splice(0).map((c) => c.close({ drainTimeout: 500 })));
      await js.stop();
    }
  });

  it.each([
    ["core NATS", {}],
    ["durable mode", { durable: {} }],
  ])(
    "no server at the first connection (%s): ready() rejects with ERR_CONNECT (a ChannelError), what was published is reported, later publishes and front-end requests throw ERR_CLOSED",
    async (_mode, extra) => {
      const url = `nats://127.0.0.1:${await freePort()}`;
      const ch = channel("lonely", { servers: url, namespace: `none-${++namespaces}`, ...extra });
      const drops: DropInfo[] = [];
      ch.on("drop", (d) => drops.push(d));
      ch.subscribe("t", () => {});
      ch.publish("t", "before ready");
      await expect(ch.ready()).rejects.toMatchObject({ code: ErrorCode.CONNECT, message: expect.stringContaining(url) });
      await until(() => drops.length > 0, 5000, "the drop report");
      expect(drops[0]).toMatchObject({ reason: "disconnected" });
      expect(() => ch.publish("t", "after")).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
      // Requests to front ends fail the same way, rather than finding none and answering [].
      const { ws } = withWs(ch);
      await expect(ws.fetchSockets()).rejects.toMatchObject({ code: ErrorCode.CLOSED, message: expect.stringContaining("did not start") });
      await expect(ws.timeout(100).emitWithAck("ping")).rejects.toMatchObject({ code: ErrorCode.CLOSED });
      expect(() => ws.servers()).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
      await ch.close();
      expect(ws.servers()).toEqual([]);
    },
  );

  it("a second live instance with the same id is refused with ERR_DUPLICATE_ID; the first keeps working", async () => {
    const namespace = `dup-${++namespaces}`;
    const first = channel("svc", { servers: server.url, namespace });
    await first.ready();
    const other = channel("other", { servers: server.url, namespace });
    await other.ready();
    const second = channel("svc", { servers: server.url, namespace });
    await expect(second.ready()).rejects.toMatchObject({ code: ErrorCode.DUPLICATE_ID });

    const got: unknown[] = [];
    first.subscribe("still", (d) => void got.push(d));
    await until(() => other.peers().some((p) => p.id === "svc"));
    other.publish("still", "here", { to: "svc" });
    await until(() => got.length === 1);
    expect(got).toEqual(["here"]);
  });

  it("a payload over the server's max_payload (sender frame included) throws ERR_PAYLOAD before any side effect; one at the limit goes, to a topic and { to }", async () => {
    const namespace = `payload-${++namespaces}`;
    const a = channel("pub", { servers: server.url, namespace });
    const b = channel("sub", { servers: server.url, namespace });
    await Promise.all([a.ready(), b.ready()]);
    const max = (await server.monitor<{ max_payload: number }>("varz")).max_payload;
    const big = Buffer.alloc(70_000);
    // The largest Buffer payloads whose message as sent is exactly max_payload: on a topic
    // subject the sender frame and the payload; on an inbox, the topic too.
    const fits = max - (encodeMessageData(big, senderPrefix("pub", TOPIC_FRAME_MARK)).length - big.length);
    const fitsTo = max - (encodeMessageBody("big", big, senderPrefix("pub")).length - big.length);
    expect(fitsTo).toBe(fits - 4); // "big", packed
    const atA: number[] = [];
    const atB: number[] = [];
    a.subscribe("big", (d) => void atA.push((d as Buffer).length));
    b.subscribe("big", (d) => void atB.push((d as Buffer).length));
    await until(() => a.peers().length === 1);
    expect(() => a.publish("big", Buffer.alloc(fits + 1))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    expect(() => a.publish("big", Buffer.alloc(fitsTo + 1), { to: "sub" })).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    expect(atA).toEqual([]);
    // Interest crosses to the server asynchronously: publish until one arrives.
    await until(() => {
      if (atB.length === 0) a.publish("big", Buffer.alloc(fits));
      return atB.length > 0;
    });
    expect(atB[0]).toBe(fits);
    a.publish("big", Buffer.alloc(fitsTo), { to: "sub" });
    await until(() => atB.includes(fitsTo));
  });

  it("core NATS messages carry no header block: the sender id is framed in front; a topic subject carries the payload alone, an inbox the whole body", async () => {
    const namespace = `lean-${++namespaces}`;
    const pub = channel("pub-1", { servers: server.url, namespace });
    const sub = channel("sub-1", { servers: server.url, namespace });
    const got: [unknown, string][] = [];
    sub.subscribe("lean", (d, meta) => void got.push([d, meta.from]));
    const raw = await connect({ servers: server.url });
    try {
      const seen: { subject: string; headers: boolean; hex: string }[] = [];
      raw.subscribe(`sfn.${namespace}.>`, {
        callback: (_err, msg) => {
          // Presence and the id claims (a request with a reply subject) are not messages.
          if (!msg.subject.endsWith("_presence") && !msg.reply)
            seen.push({ subject: msg.subject, headers: msg.headers !== undefined, hex: Buffer.from(msg.data).toString("hex") });
        },
      });
      await raw.flush();
      await Promise.all([pub.ready(), sub.ready()]);
      await until(() => pub.peers().some((p) => p.id === "sub-1"));
      await until(() => {
        if (got.length === 0) pub.publish("lean", "x");
        return got.length > 0;
      });
      pub.publish("lean", "y", { to: "sub-1" });
      await until(() => got.some(([d]) => d === "y"));
      expect(got.every(([, from]) => from === "pub-1")).toBe(true);
      await until(() => seen.some((m) => m.subject.includes("._inbox.")));
      const id = Buffer.from("pub-1").toString("hex");
      // On the topic subject: 0xc0, the id's length (5, big-endian), "pub-1", then "x" alone (a1 78).
      const onTopic = seen.filter((m) => m.subject === `sfn.${namespace}.t.lean`);
      expect(onTopic.length).toBeGreaterThan(0);
      for (const m of onTopic) expect(m).toEqual({ subject: `sfn.${namespace}.t.lean`, headers: false, hex: `c00005${id}a178` });
      // On the inbox: 0xc1, the id, then core's body: the topic "lean" (a4 6c65616e), then "y" (a1 79).
      expect(seen.filter((m) => m.subject.includes("._inbox."))).toEqual([
        { subject: `sfn.${namespace}._inbox.sub-1`, headers: false, hex: `c10005${id}a46c65616ea179` },
      ]);
    } finally {
      await raw.close();
    }
  });

  it("a malformed or old-format message from the network is reported as ERR_MALFORMED_FRAME and harms nothing; the next good one is delivered", async () => {
    const namespace = `bad-${++namespaces}`;
    const sub = channel("sub", { servers: server.url, namespace });
    const pub = channel("pub", { servers: server.url, namespace });
    const errors: { code?: string; message: string }[] = [];
    sub.on("error", (e) => void errors.push(e));
    const got: unknown[] = [];
    sub.subscribe("m", (d) => void got.push(d));
    const wild: unknown[] = [];
    sub.subscribe("w.*", (d) => void wild.push(d));
    await Promise.all([sub.ready(), pub.ready()]);
    const raw = await connect({ servers: server.url });
    try {
      const subject = `sfn.${namespace}.t.m`;
      const oldHeaders = natsHeaders();
      oldHeaders.set(FROM_HEADER, "old");
      const onTopic = (id: string, payload: number[]): Buffer => Buffer.concat([senderPrefix(id, TOPIC_FRAME_MARK), Buffer.from(payload)]);
      const hostile: [string, Uint8Array, RegExp][] = [
        // The format before the lean one (Sfn-From header, bare body).
        [subject, encodeMessageBody("m", "old"), /older @sfn\/channel-nats/],
        // The lean format's topic message (0xc1, the topic in the body): an older peer.
        [subject, Buffer.concat([senderPrefix("old"), encodeMessageBody("m", "old")]), /topic in the body.*older @sfn\/channel-nats/],
        // Cut frames, an empty one, a frame with nothing or garbage or two values after the id.
        [subject, Buffer.from([0xc0, 0x00, 0x09, 0x61]), /malformed sender frame/],
        [subject, Buffer.from([0xc0]), /malformed sender frame/],
        [subject, new Uint8Array(0), /no sender frame/],
        [subject, onTopic("evil", []), /empty message payload/],
        [subject, onTopic("evil", [0xff, 0xff]), /not exactly one value/],
        [subject, onTopic("evil", [0xc4, 0x05, 0x01]), /runs past the end/],
        [subject, onTopic("evil", [0xc1]), /refused/],
        // A topic message sent to an inbox, and a cut inbox frame.
        [`sfn.${namespace}._inbox.sub`, onTopic("evil", [0xa1, 0x78]), /topic subject, not an inbox/],
        [`sfn.${namespace}._inbox.sub`, Buffer.from([0xc1, 0x00, 0x00]), /malformed sender frame/],
        // Subjects a wildcard subscription matches but that name no topic core accepts.
        [`sfn.${namespace}.t.w.\u0001`, onTopic("evil", [0xa1, 0x78]), /names no valid topic/],
      ];
      // The first one with its header, as that format sent it.
      hostile.forEach(([to, bytes], i) => {
        raw.publish(to, bytes, i === 0 ? { headers: oldHeaders } : undefined);
      });
      await raw.flush();
      await until(() => errors.length >= hostile.length);
      expect(errors.every((e) => e.code === ErrorCode.MALFORMED_FRAME)).toBe(true);
      expect(errors.map((e) => e.message)).toEqual(hostile.map(([, , reason]) => expect.stringMatching(reason)));
      expect(got).toEqual([]);
      expect(wild).toEqual([]);
      // Nothing is broken: the next good messages, exact and wildcard, are delivered, from the right sender.
      const from: string[] = [];
      sub.subscribe("w.*", (_d, meta) => void from.push(`${meta.topic} ${meta.from}`));
      await until(() => {
        if (got.length === 0) pub.publish("m", "good");
        if (wild.length === 0) pub.publish("w.x", "good too");
        return got.length > 0 && wild.length > 0;
      });
      expect(got[0]).toBe("good");
      expect(wild[0]).toBe("good too");
      expect(from[0]).toBe("w.x pub");
    } finally {
      await raw.close();
    }
  });

  it("keeps what is published while the broker is away, returns false past half the window, drops past it, and flushes in order", async () => {
    const cluster = await startNatsCluster(2);
    try {
      const [one, two] = cluster.servers as [NatsServer, NatsServer];
      const namespace = `window-${++namespaces}`;
      const sub = channel("sub", { servers: two.url, namespace });
      // The publisher sits on node 1 and fails over to node 2 when node 1 dies.
      const pub = channel("pub", { servers: [one.url, two.url], noRandomize: true, namespace, window: { maxMessages: 10 } });
      const got: number[] = [];
      sub.subscribe("w", (d) => void got.push(d as number));
      await Promise.all([pub.ready(), sub.ready()]);
      await until(() => {
        if (got.length === 0) pub.publish("w", -1);
        return got.length > 0;
      });
      got.length = 0;

      const down = nextEvent(pub, "broker:down");
      await one.kill("SIGKILL");
      await down;
      const drops: DropInfo[] = [];
      pub.on("drop", (d) => drops.push(d));
      const drained = nextEvent(pub, "drain");
      const up = nextEvent(pub, "broker:up");
      const results = Array.from({ length: 12 }, (_, i) => pub.publish("w", i));
      expect(results).toEqual([true, true, true, true, false, false, false, false, false, false, false, false]);
      await up;
      await drained;
      await until(() => got.length === 10);
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await until(() => drops.length > 0);
      expect(drops).toEqual([{ peer: "*", count: 2, reason: "window-full" }]);
    } finally {
      await Promise.all(channels.splice(0).map((c) => c.close({ drainTimeout: 0 })));
      await cluster.stop();
    }
  });

  it("link:up when a service appears, link:down peer-closed when it closes; { to } a gone service is a no-link drop", async () => {
    const namespace = `links-${++namespaces}`;
    const a = channel("a", { servers: server.url, namespace });
    await a.ready();
    const up = nextEvent(a, "link:up", (i: { peer: string }) => i.peer === "b");
    const b = channel("b", { servers: server.url, namespace });
    await b.ready();
    expect(await up).toEqual({ peer: "b", resumed: false, direction: "outbound", url: undefined });
    const down = nextEvent(a, "link:down", (i: { peer: string }) => i.peer === "b");
    await b.close();
    expect(await down).toEqual({ peer: "b", reason: "peer-closed", error: undefined });
    const drop = nextEvent(a, "drop");
    a.publish("x", 1, { to: "b" });
    expect(await drop).toEqual({ peer: "b", count: 1, reason: "no-link" });
  });

  it("refuses listen/connect (NATS routes, the channel does not link) and mesh options next to the router", async () => {
    const namespace = `opts-${++namespaces}`;
    const a = channel("a", { servers: server.url, namespace });
    await expect(a.listen({ port: 0 })).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTION });
    expect(() => new MessageChannel({ id: "x", secret: "s".repeat(32), router: nats({ servers: server.url }) })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    );
  });
});

describe("NatsRouter on a cluster", () => {
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });

  afterAll(async () => {
    await Promise.all(channels.splice(0).map((c) => c.close({ drainTimeout: 0 })));
    await cluster?.stop();
  });

  it("publisher and subscriber on different nodes; SIGKILL of the publisher's node mid-stream: it fails over, order kept, no duplicates, nothing lost after broker:down", async () => {
    const [one, two, three] = cluster.servers as [NatsServer, NatsServer, NatsServer];
    const namespace = `failover-${++namespaces}`;
    const sub = channel("sub", { servers: three.url, namespace });
    const pub = channel("pub", { servers: [two.url, one.url], noRandomize: true, namespace });
    const got: number[] = [];
    sub.subscribe("stream", (d) => void got.push(d as number));
    await Promise.all([pub.ready(), sub.ready()]);
    await until(() => {
      if (got.length === 0) pub.publish("stream", -1);
      return got.length > 0;
    });
    got.length = 0;

    let n = 0;
    let away = false;
    let firstAway = -1;
    pub.on("broker:down", () => {
      away = true;
      firstAway = n;
    });
    pub.on("broker:up", () => {
      away = false;
    });
    const errors: unknown[] = [];
    // Publish on a timer, mid-stream, before, during and after the crash.
    const stream = setInterval(() => {
      try {
        pub.publish("stream", n++);
      } catch (e) {
        errors.push(e);
      }
    }, 2);
    await until(() => got.length >= 50, 20_000, "stream before the crash");
    const down = nextEvent(pub, "broker:down");
    const up = nextEvent(pub, "broker:up");
    await two.kill("SIGKILL");
    await withTimeout(Promise.all([down, up]), 20_000, "failover");
    const afterUp = n;
    await until(() => got.includes(afterUp + 50), 20_000, "stream after the failover");
    clearInterval(stream);
    expect(errors).toEqual([]);
    expect(away).toBe(false);
    // In order, no duplicates.
    for (let i = 1; i < got.length; i++) expect(got[i]!).toBeGreaterThan(got[i - 1]!);
    // Everything published from broker:down on (kept in the window, then flushed) arrived;
    // only what nats.js had written to the dying socket before it noticed may be missing.
    const last = got[got.length - 1]!;
    const missing = Array.from({ length: last + 1 }, (_, i) => i).filter((i) => !got.includes(i));
    expect(missing.every((i) => i < firstAway)).toBe(true);
    await cluster.restart(1);
  });

  it("SIGKILL of the subscriber's node mid-stream: the subscriber fails over and reports it, nothing crashes, and what is lost is one gap at the crash (at most once), then every message", async () => {
    const [one, two, three] = cluster.servers as [NatsServer, NatsServer, NatsServer];
    const namespace = `sub-failover-${++namespaces}`;
    // The subscriber sits on node 3, which crashes; it knows node 2 too. The publisher is on node 1.
    const sub = channel("sub", { servers: [three.url, two.url], noRandomize: true, namespace });
    const pub = channel("pub", { servers: one.url, namespace });
    const got: number[] = [];
    sub.subscribe("stream", (d) => void got.push(d as number));
    await Promise.all([pub.ready(), sub.ready()]);
    await until(() => {
      if (got.length === 0) pub.publish("stream", -1);
      return got.length > 0;
    });
    got.length = 0;

    const subEvents: string[] = [];
    sub.on("broker:down", () => subEvents.push("down"));
    sub.on("broker:up", () => subEvents.push("up"));
    const pubEvents: string[] = [];
    pub.on("broker:down", () => pubEvents.push("broker:down"));
    pub.on("drop", (d) => pubEvents.push(`drop ${d.reason}`));
    const errors: unknown[] = [];
    pub.on("error", (e) => errors.push(e));
    sub.on("error", (e) => errors.push(e));

    let n = 0;
    const stream = setInterval(() => {
      try {
        pub.publish("stream", n++);
      } catch (e) {
        errors.push(e);
      }
    }, 2);
    try {
      await until(() => got.length >= 50, 20_000, "stream before the crash");
      const up = nextEvent(sub, "broker:up");
      await three.kill("SIGKILL");
      await withTimeout(up, 20_000, "subscriber failover");
      // The subscriber re-subscribed on a surviving node; once its interest crosses the routes
      // to node 1 the stream flows again.
      const afterUp = n;
      await until(() => got.some((i) => i >= afterUp + 50), 20_000, "stream after the failover");
    } finally {
      clearInterval(stream);
    }
    expect(errors).toEqual([]);
    // The loss is reported where it happens: the subscriber's own connection went down and up.
    expect(subEvents).toEqual(["down", "up"]);
    // The publisher's path was never broken: nothing to keep or drop on its side.
    expect(pubEvents).toEqual([]);
    // In order, no duplicates, and at most one gap: the messages in flight to the dead node and
    // those published before the subscriber's interest was back on node 1 (core NATS: at most once).
    for (let i = 1; i < got.length; i++) expect(got[i]!).toBeGreaterThan(got[i - 1]!);
    expect(got[0]).toBe(0);
    const gaps = got.slice(1).filter((v, i) => v !== got[i]! + 1);
    expect(gaps.length).toBeLessThanOrEqual(1);
    await cluster.restart(2);
  });
});
