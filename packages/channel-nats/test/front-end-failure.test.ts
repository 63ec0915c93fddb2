import { join } from "node:path";
import { MessageChannel } from "@sfn/channel-core";
import { withWs } from "../../channel-ws/src/index.js";
import { spawnService, startNatsServer, until, type NatsServer, type ServiceProcess } from "@sfn/test-utils";
import { connectWsClient, startWsFrontEnd, type Client, type FrontEnd } from "../../channel-ws/test/conformance/run-ws-conformance.js";
import { nats } from "../src/index.js";

// A front end that dies (SIGKILL, no bye) while a request waits for it stays expected: the
// request's WsTimeoutError names it in `missing`. (One that closes cleanly is not waited for:
// see the ws conformance suite.)

let server: NatsServer;
let child: ServiceProcess | undefined;
let fe1: FrontEnd | undefined;
const channels: MessageChannel[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  for (const c of clients) c.socket.disconnect();
  await child?.kill();
  await Promise.all(channels.map((c) => c.close({ drainTimeout: 0 })));
  if (fe1) await new Promise<void>((r) => fe1!.io.close(() => r()));
  await server?.stop();
});

it("a front end killed during emitWithAck is named in missing; the one that answered in answered", async () => {
  const namespace = "fe-failure";
  const make = (id: string) => {
    const ch = new MessageChannel({ id, router: nats({ servers: server.url, namespace, heartbeat: { interval: 100 } }) });
    ch.on("error", () => {});
    channels.push(ch);
    return ch;
  };
  const front = make("fe-1");
  const op = withWs(make("operator"));
  await Promise.all([front.ready(), op.ready()]);
  fe1 = await startWsFrontEnd(front);
  child = await spawnService(join(__dirname, "fixtures/ws-front-end.ts"), ["fe-2", server.url, namespace]);
  const { port } = await child.next<{ type: string; port: number }>((m) => m.type === "ready");
  const answering = await connectWsClient(fe1);
  const silent = await connectWsClient({ port }, true);
  clients.push(answering, silent);
  await until(() => ["fe-1", "fe-2"].every((id) => op.ws.servers().includes(id)), 20_000, "both front ends in presence");

  const request = op.ws
    .timeout(1500)
    .emitWithAck("question", 1)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  await until(() => silent.got("question").length === 1, 20_000, "the question at fe-2's client");
  await child.kill("SIGKILL");
  child = undefined;
  expect(await request).toMatchObject({ code: "ERR_WS_TIMEOUT", missing: ["fe-2"], answered: ["fe-1"], received: 1 });
});
