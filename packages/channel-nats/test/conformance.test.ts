import { MessageChannel } from "@sfn/channel-core";
import { startNatsServer, until, type NatsServer } from "@sfn/test-utils";
import { nats } from "../src/index.js";
import type { MakeChannels } from "../../channel-core/test/conformance/run-conformance.js";
import { runConformance } from "../../channel-core/test/conformance/run-conformance.js";
import { runSseConformance } from "../../channel-sse/test/conformance/run-sse-conformance.js";
import { runWsConformance } from "../../channel-ws/test/conformance/run-ws-conformance.js";

// The same behaviour tests as the mesh's, against one private nats-server.

let server: NatsServer;
let groups = 0;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

const natsChannels: MakeChannels = async (ids) => {
  // A namespace per group: services of an earlier test never show up in this one's presence.
  const namespace = `conformance-${++groups}`;
  const channels = ids.map(
    (id) =>
      new MessageChannel({ id, router: nats({ servers: server.url, namespace, heartbeat: { interval: 200 }, reconnectTimeWait: 50 }) }),
  );
  const close = () => Promise.all(channels.map((c) => c.close({ drainTimeout: 1000 }))).then(() => undefined);
  try {
    await Promise.all(channels.map((c) => c.ready()));
    await until(() => channels.every((c) => c.peers().length === ids.length - 1), 20_000, "every service in presence");
  } catch (error) {
    await close();
    throw error;
  }
  return { channels, close };
};

runConformance("NATS", natsChannels);
runWsConformance("NATS", natsChannels);
runSseConformance("NATS", natsChannels);
