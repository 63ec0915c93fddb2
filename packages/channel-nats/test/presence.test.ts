import { once } from "node:events";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode } from "@sfn/channel-core";
import { nextEvent, startNatsServer, withTimeout, type NatsServer } from "@sfn/test-utils";
import { Presence, timerHost, type PresenceEvents } from "../src/presence.js";
import { SubjectSpace } from "../src/subjects.js";

// Presence over a real private nats-server, each service on its own client connection. The
// router will carry announcements with core's codec; JSON stands in for it here.

const space = new SubjectSpace("presence-test");
let server: NatsServer;
const opened: NatsConnection[] = [];
const started: Presence[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  for (const p of started.splice(0)) p.stop();
  await Promise.all(opened.splice(0).map((nc) => (nc.isClosed() ? undefined : nc.close())));
});

afterAll(async () => {
  await server?.stop();
});

/** A service's presence on its own NATS connection, subscribed before it says hello. */
async function join(
  id: string,
  instance: string,
  roles: string[] = [],
  interval = 100,
): Promise<{ presence: Presence; nc: NatsConnection }> {
  const nc = await connect({ servers: server.url, name: id });
  opened.push(nc);
  const presence = new Presence(
    { id, instance, roles, interval },
    // After a simulated death (connection closed, no bye) the timers may still fire: they say nothing.
    timerHost((a) => !nc.isClosed() && nc.publish(space.presence, JSON.stringify(a))),
  );
  nc.subscribe(space.presence, {
    callback: (err, msg) => {
      if (!err) presence.receive(msg.json());
    },
  });
  await nc.flush();
  started.push(presence);
  presence.start();
  return { presence, nc };
}

const upOf = (p: Presence, peer: string): Promise<PresenceEvents["peer:up"][0]> =>
  nextEvent(p, "peer:up", (e: PresenceEvents["peer:up"][0]) => e.peer === peer);
const downOf = (p: Presence, peer: string): Promise<PresenceEvents["peer:down"][0]> =>
  nextEvent(p, "peer:down", (e: PresenceEvents["peer:down"][0]) => e.peer === peer);

it("two services learn each other and their roles, from hello and its answer", async () => {
  const web = await join("web-1", "w1", ["ws", "sse"], 60_000);
  const webSees = upOf(web.presence, "rpc-1");
  const rpc = await join("rpc-1", "r1", [], 60_000);
  // Intervals of a minute: only the hello and its answer can make these happen in time.
  await withTimeout(Promise.all([webSees, rpc.presence.has("web-1") || upOf(rpc.presence, "web-1")]), 10000, "both up");
  expect(rpc.presence.frontEnds("ws")).toEqual(["web-1"]);
  expect(rpc.presence.frontEnds("sse")).toEqual(["web-1"]);
  expect(web.presence.frontEnds("ws")).toEqual(["web-1"]);
});

it("a clean close is peer-closed at once; a silent death is heartbeat-timeout", async () => {
  const rpc = await join("rpc-1", "r1");
  const ups = Promise.all([upOf(rpc.presence, "web-a"), upOf(rpc.presence, "web-b")]);
  const a = await join("web-a", "a", ["ws"]);
  const b = await join("web-b", "b", ["ws"]);
  await withTimeout(ups, 10000, "front ends up");
  expect(rpc.presence.frontEnds("ws").sort()).toEqual(["web-a", "web-b"]);

  const closed = downOf(rpc.presence, "web-a");
  a.presence.stop();
  expect(await closed).toMatchObject({ reason: "peer-closed" });

  // web-b's process dies: its connection goes, without a bye.
  const timedOut = downOf(rpc.presence, "web-b");
  await b.nc.close();
  expect(await timedOut).toMatchObject({ reason: "heartbeat-timeout" });
  expect(rpc.presence.frontEnds("ws")).toEqual([]);
});

it("a second live instance of an id fails with ERR_DUPLICATE_ID; the first keeps it", async () => {
  const rpc = await join("rpc-1", "r1");
  const firstUp = upOf(rpc.presence, "web-1");
  const first = await join("web-1", "first", ["ws"]);
  await withTimeout(firstUp, 10000, "web-1 up");
  const downs: unknown[] = [];
  rpc.presence.on("peer:down", (e) => downs.push(e));
  const second = await join("web-1", "second", ["ws"]);
  const [error] = await withTimeout(once(second.presence, "duplicate"), 10000, "duplicate");
  expect(error).toMatchObject({ code: ErrorCode.DUPLICATE_ID, name: "DuplicateIdError" });
  expect(second.presence.live).toBe(false);
  expect(first.presence.live).toBe(true);
  // Everyone else still sees the first instance, with no down in between (the newcomer's bye
  // has reached rpc-1 once its own connection has flushed after the server's).
  await second.nc.flush();
  await rpc.nc.flush();
  expect(rpc.presence.peers().find((p) => p.id === "web-1")?.instance).toBe("first");
  expect(downs).toEqual([]);
});
