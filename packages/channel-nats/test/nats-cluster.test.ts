import { connect, type Msg, type NatsConnection, type Status } from "@nats-io/transport-node";
import { startNatsCluster, startNatsServer, withTimeout, type NatsCluster } from "@sfn/test-utils";

// The test-utils helpers against a real nats-server cluster, with the real client: what every
// channel-nats integration test builds on.

const opened: NatsConnection[] = [];
async function client(servers: string | string[], name: string): Promise<NatsConnection> {
  // In order: the first URL is the node a test means.
  const nc = await connect({ servers, name, noRandomize: true, reconnectTimeWait: 50, maxReconnectAttempts: -1, pingInterval: 1000 });
  opened.push(nc);
  return nc;
}

/** Resolves with the next status of `type` the connection reports. */
async function nextStatus(nc: NatsConnection, type: Status["type"]): Promise<Status> {
  for await (const s of nc.status()) if (s.type === type) return s;
  throw new Error(`connection closed before a "${type}" status`);
}

/**
 * Interest crosses routes asynchronously: ask until the subject is answered from the far node
 * (no responders comes back at once while the interest has not arrived).
 */
async function untilRoutable(nc: NatsConnection, subject: string): Promise<void> {
  for (;;) {
    try {
      await nc.request(subject, "probe", { timeout: 1000 });
      return;
    } catch {
      await nc.flush();
    }
  }
}

/** A subscriber that answers probes and collects every other message. */
function collector(nc: NatsConnection, subject: string): { got: string[]; next(count: number): Promise<string[]> } {
  const got: string[] = [];
  const waiters: { count: number; resolve: (v: string[]) => void }[] = [];
  nc.subscribe(subject, {
    callback: (err, msg: Msg) => {
      if (err) return;
      if (msg.reply) {
        msg.respond("ok");
        return;
      }
      got.push(msg.string());
      for (const w of [...waiters]) {
        if (got.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(got);
        }
      }
    },
  });
  return {
    got,
    next: (count) => (got.length >= count ? Promise.resolve(got) : new Promise((resolve) => waiters.push({ count, resolve }))),
  };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((nc) => nc.close()));
});

describe("startNatsServer", () => {
  it("runs a private server on free ports that a real client uses, and stops it", async () => {
    const server = await startNatsServer();
    try {
      expect(server.port).not.toBe(4222);
      const nc = await client(server.url, "single");
      const inbox = collector(nc, "greeting");
      await nc.flush();
      nc.publish("greeting", "Hello, World!");
      expect(await withTimeout(inbox.next(1), 10000, "delivery")).toEqual(["Hello, World!"]);
      expect(nc.info?.max_payload).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
    expect(server.running).toBe(false);
  });

  it("restarts a killed server on the same port, and the client reconnects", async () => {
    const server = await startNatsServer();
    try {
      const nc = await client(server.url, "restarting");
      const reconnected = nextStatus(nc, "reconnect");
      await server.kill();
      expect(server.running).toBe(false);
      await server.restart();
      await withTimeout(reconnected, 20000, "reconnect");
      const inbox = collector(nc, "after");
      await nc.flush();
      nc.publish("after", "restart");
      expect(await withTimeout(inbox.next(1), 10000, "delivery")).toEqual(["restart"]);
    } finally {
      await server.stop();
    }
  });

  it("runs JetStream in a temporary store when asked", async () => {
    const server = await startNatsServer({ jetstream: true });
    try {
      const varz = await server.monitor<{ jetstream?: { config?: { store_dir?: string } } }>("varz");
      expect(varz.jetstream?.config?.store_dir).toContain("sfn-nats-js-");
    } finally {
      await server.stop();
    }
  });
});

describe("startNatsCluster", () => {
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });

  afterAll(async () => {
    await cluster?.stop();
    expect(cluster.servers.every((s) => !s.running)).toBe(true);
  });

  it("routes a message published on node 1 to a subscriber on node 3", async () => {
    const [one, , three] = cluster.servers;
    const pub = await client(one!.url, "pub");
    const sub = await client(three!.url, "sub");
    const inbox = collector(sub, "orders.*");
    await sub.flush();
    await untilRoutable(pub, "orders.probe");
    for (let i = 0; i < 10; i++) pub.publish(`orders.${i}`, `order ${i}`);
    expect(await withTimeout(inbox.next(10), 10000, "delivery across the cluster")).toEqual(
      Array.from({ length: 10 }, (_, i) => `order ${i}`),
    );
    // The connection is really on node 3 and the message really crossed a route.
    expect(sub.getServer()).toBe(three!.url.replace("nats://", ""));
  });

  it("fails clients over when their node is SIGKILLed, and the node rejoins after a restart", async () => {
    const [one, two, three] = cluster.servers;
    const pub = await client(one!.url, "pub");
    // The subscriber knows every node, but sits on node 2, which crashes.
    const sub = await client([two!.url, three!.url], "sub");
    expect(sub.getServer()).toBe(two!.url.replace("nats://", ""));
    const inbox = collector(sub, "failover.*");
    await sub.flush();
    await untilRoutable(pub, "failover.probe");
    pub.publish("failover.before", "before");
    await withTimeout(inbox.next(1), 10000, "delivery before the crash");

    const disconnected = nextStatus(sub, "disconnect");
    const reconnected = nextStatus(sub, "reconnect");
    await two!.kill("SIGKILL");
    await withTimeout(disconnected, 20000, "disconnect status");
    const status = await withTimeout(reconnected, 20000, "reconnect status");
    expect(status).toMatchObject({ type: "reconnect" });
    // On a surviving node (the client learnt node 1 from the cluster's gossip too).
    expect([one!.url, three!.url]).toContain(`nats://${sub.getServer()}`);

    // The client re-subscribed there; its interest reaches node 1 through the routes.
    await untilRoutable(pub, "failover.probe");
    pub.publish("failover.after", "after");
    expect(await withTimeout(inbox.next(2), 10000, "delivery after the failover")).toEqual(["before", "after"]);

    await cluster.restart(1);
    expect(two!.running).toBe(true);
    const back = await client(two!.url, "back");
    await untilRoutable(back, "failover.probe");
    back.publish("failover.rejoined", "rejoined");
    expect(await withTimeout(inbox.next(3), 10000, "delivery from the restarted node")).toEqual(["before", "after", "rejoined"]);
  });
});
