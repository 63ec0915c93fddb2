import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type DropInfo, type LinkDownInfo, type LinkUpInfo, MessageChannel } from "@sfn/channel-core";
import { TcpProxy, nextEvent, startNatsCluster, until, withTimeout, type NatsCluster } from "@sfn/test-utils";
import { nats } from "../src/index.js";
import { Presence, timerHost, type PresenceEvents } from "../src/presence.js";
import { SubjectSpace } from "../src/subjects.js";

// A route between two NATS servers that silently drops traffic (through a black-holed TCP
// proxy): the servers notice only after their own route ping interval (minutes), but presence
// beats cross the same route, so services on either side see each other go down within the
// heartbeat bound, and come back after.

const space = new SubjectSpace("route-test");
const proxies: TcpProxy[] = [];
const opened: NatsConnection[] = [];
const started: Presence[] = [];
let cluster: NatsCluster;

beforeAll(async () => {
  cluster = await startNatsCluster(2, {
    // Both members reach each other only through a proxy, whichever side's route survives.
    routePort: async (_from, _to, port) => {
      const proxy = await new TcpProxy(port).start();
      proxies.push(proxy);
      return proxy.port;
    },
  });
});

const channels: MessageChannel[] = [];

afterAll(async () => {
  await Promise.all(channels.map((c) => c.close({ drainTimeout: 0 })));
  for (const p of started) p.stop();
  await Promise.all(opened.map((nc) => nc.close()));
  await cluster?.stop();
  await Promise.all(proxies.map((p) => p.close()));
});

async function join(server: string, id: string): Promise<Presence> {
  const nc = await connect({ servers: server, name: id, noRandomize: true });
  opened.push(nc);
  const presence = new Presence(
    { id, instance: `${id}-1`, interval: 100 },
    timerHost((a) => nc.publish(space.presence, JSON.stringify(a))),
  );
  nc.subscribe(space.presence, {
    callback: (err, msg) => {
      if (!err) presence.receive(msg.json());
    },
  });
  await nc.flush();
  started.push(presence);
  presence.start();
  return presence;
}

const event = <K extends "peer:up" | "peer:down">(p: Presence, name: K, peer: string): Promise<PresenceEvents[K][0]> =>
  nextEvent(p, name, (e: PresenceEvents[K][0]) => e.peer === peer, 20000);

it("reports heartbeat-timeout on both sides of a black-holed route, and the peers back once it carries traffic again", async () => {
  const [one, two] = cluster.servers;
  const a = await join(one!.url, "svc-a");
  const aSeesB = event(a, "peer:up", "svc-b");
  const b = await join(two!.url, "svc-b");
  // Presence crosses the route from both sides (interest may take a beat to arrive).
  await withTimeout(Promise.all([aSeesB, b.has("svc-a") || event(b, "peer:up", "svc-a")]), 20000, "presence across the route");
  expect(proxies.some((p) => p.connections > 0)).toBe(true);

  const aLosesB = event(a, "peer:down", "svc-b");
  const bLosesA = event(b, "peer:down", "svc-a");
  for (const p of proxies) p.blackhole(true);
  expect(await aLosesB).toMatchObject({ reason: "heartbeat-timeout" });
  expect(await bLosesA).toMatchObject({ reason: "heartbeat-timeout" });
  // The servers themselves still count the route as up: only presence saw the break.
  const routez = await one!.monitor<{ num_routes: number }>("routez");
  expect(routez.num_routes).toBe(1);

  const aGetsB = event(a, "peer:up", "svc-b");
  const bGetsA = event(b, "peer:up", "svc-a");
  for (const p of proxies) p.blackhole(false);
  await withTimeout(Promise.all([aGetsB, bGetsA]), 20000, "presence after the route recovered");
  expect(a.has("svc-b") && b.has("svc-a")).toBe(true);
});

it("the NatsRouter reports link:down heartbeat-timeout within the bound, reports { to } sends as no-link drops meanwhile, and recovers", async () => {
  const [one, two] = cluster.servers;
  const interval = 100;
  const make = (id: string, url: string) => {
    const ch = new MessageChannel({ id, router: nats({ servers: url, namespace: "route-router", heartbeat: { interval } }) });
    ch.on("error", () => {});
    channels.push(ch);
    return ch;
  };
  const a = make("router-a", one!.url);
  const b = make("router-b", two!.url);
  const got: unknown[] = [];
  b.subscribe("direct", (d) => void got.push(d));
  await Promise.all([a.ready(), b.ready()]);
  await until(() => a.peers().some((p) => p.id === "router-b") && b.peers().some((p) => p.id === "router-a"), 20000, "presence");
  a.publish("direct", "before", { to: "router-b" });
  await until(() => got.length === 1, 20000, "delivery before");

  const aDown = nextEvent<LinkDownInfo>(a, "link:down", (i) => i.peer === "router-b");
  const bDown = nextEvent<LinkDownInfo>(b, "link:down", (i) => i.peer === "router-a");
  for (const p of proxies) p.blackhole(true);
  // Presence times a peer out after 3 silent intervals, long before the servers' own route ping
  // would notice; the servers still count the route as up.
  expect(await aDown).toMatchObject({ reason: "heartbeat-timeout" });
  expect(await bDown).toMatchObject({ reason: "heartbeat-timeout" });
  const drop = nextEvent<DropInfo>(a, "drop");
  a.publish("direct", "while broken", { to: "router-b" });
  expect(await drop).toEqual({ peer: "router-b", count: 1, reason: "no-link" });

  const aUp = nextEvent<LinkUpInfo>(a, "link:up", (i) => i.peer === "router-b");
  const bUp = nextEvent<LinkUpInfo>(b, "link:up", (i) => i.peer === "router-a");
  for (const p of proxies) p.blackhole(false);
  await withTimeout(Promise.all([aUp, bUp]), 20000, "link:up after the route recovered");
  a.publish("direct", "after", { to: "router-b" });
  await until(() => got.length === 2, 20000, "delivery after");
  expect(got).toEqual(["before", "after"]);
});
