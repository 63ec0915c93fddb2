import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { startNatsCluster, withTimeout, type NatsCluster } from "@sfn/test-utils";
import { BrokerWindow, type OutboundMessage } from "../src/broker-window.js";

// The broker-away window over a real client: a publisher whose server is SIGKILLed keeps what
// it publishes until the client has failed over, then writes it, in order, to a subscriber on
// the surviving node. (nats.js alone discards everything published while it reconnects.)

let cluster: NatsCluster;
const opened: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(2);
});

afterAll(async () => {
  await Promise.all(opened.map((nc) => nc.close()));
  await cluster?.stop();
});

/** Resolves with the next status of `type`. */
async function nextStatus(nc: NatsConnection, type: Status["type"]): Promise<void> {
  for await (const s of nc.status()) if (s.type === type) return;
}

it("keeps messages published while the client fails over, and delivers them all, in order", async () => {
  const [one, two] = cluster.servers;
  const sub = await connect({ servers: two!.url, name: "sub" });
  const pub = await connect({ servers: [one!.url, two!.url], noRandomize: true, name: "pub", reconnectTimeWait: 100 });
  opened.push(sub, pub);
  const got: string[] = [];
  let wanted = 0;
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  sub.subscribe("sfn.test.t.>", {
    callback: (err, msg) => {
      if (err) return;
      got.push(msg.string());
      if (wanted > 0 && got.filter((g) => g.startsWith("kept-")).length === wanted) resolveAll();
    },
  });
  await sub.flush();

  const window = new BrokerWindow<OutboundMessage>({
    write: (m) => pub.publish(m.subject, m.payload),
    drop: () => undefined,
    drain: () => undefined,
  });
  window.setMaxPayload(pub.info?.max_payload);
  // The router's wiring: connection state from the client's status stream.
  void (async () => {
    for await (const s of pub.status()) {
      if (s.type === "disconnect") window.disconnected();
      if (s.type === "reconnect") window.reconnected();
    }
  })();

  // Interest crosses the route before the test starts counting.
  const payload = (text: string) => new TextEncoder().encode(text);
  while (!got.includes("probe")) {
    window.publish({ subject: "sfn.test.t.probe", payload: payload("probe"), label: "*" });
    await pub.flush();
    await new Promise((r) => setImmediate(r));
  }

  const down = nextStatus(pub, "disconnect");
  const back = nextStatus(pub, "reconnect");
  await one!.kill("SIGKILL");
  await withTimeout(down, 20000, "disconnect");
  expect(window.connected).toBe(false);
  wanted = 200;
  for (let i = 0; i < wanted; i++)
    expect(window.publish({ subject: `sfn.test.t.kept.${i}`, payload: payload(`kept-${i}`), label: "*" })).toBe(true);
  expect(window.pendingMessages).toBe(wanted);

  await withTimeout(back, 20000, "reconnect to the surviving node");
  await withTimeout(all, 20000, "every kept message");
  expect(window.pendingMessages).toBe(0);
  expect(got.filter((g) => g.startsWith("kept-"))).toEqual(Array.from({ length: wanted }, (_, i) => `kept-${i}`));
});
