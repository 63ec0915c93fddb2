import { join } from "node:path";
import { MessageChannel } from "@sfn/channel-core";
import { spawnService, startNatsServer, until, type NatsServer, type ServiceProcess } from "@sfn/test-utils";
import { nats } from "../src/index.js";

// What the README promises for a durable publisher that dies: publish() returning means the
// message is queued in the process, not stored; what the server had not acknowledged may be
// lost. What was stored is delivered once and in order (a prefix of what was published, here:
// one server, in-order pipelined publishes). After close() resolved without a `drop`, everything
// published is stored and delivered, even if the process dies right after.

let server: NatsServer;
let child: ServiceProcess | undefined;
const channels: MessageChannel[] = [];
const COUNT = 500;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
});

afterAll(async () => {
  await child?.kill();
  await Promise.all(channels.map((c) => c.close({ drainTimeout: 0 })));
  await server?.stop();
});

async function run(mode: "kill" | "close", namespace: string): Promise<{ got: number[]; closed: unknown }> {
  const make = (id: string) => {
    const ch = new MessageChannel({ id, router: nats({ servers: server.url, namespace, durable: true }) });
    ch.on("error", () => {});
    channels.push(ch);
    return ch;
  };
  const sub = make("sub");
  const got: number[] = [];
  let ended = false;
  sub.subscribe("killed.t", (n) => got.push(n as number));
  sub.subscribe("killed.end", () => (ended = true));
  await sub.ready();
  child = await spawnService(join(__dirname, "fixtures/durable-publisher.ts"), ["pub", server.url, namespace, String(COUNT), mode]);
  const exited = new Promise((r) => child!.child.once("exit", r));
  const closed = mode === "close" ? child.next((m: { type?: string }) => m.type === "closed") : undefined;
  child.send({ type: "go" });
  const report = await closed;
  if (mode === "close") await child.kill("SIGKILL");
  await exited;
  child = undefined;
  // Stored after everything the dead publisher got stored: delivered after all of it.
  const end = make("end");
  await end.ready();
  end.publish("killed.end", true);
  await until(() => ended, 20_000, "the end marker");
  return { got, closed: report };
}

it("a publisher SIGKILLed right after publish() returned: what reached the stream is a prefix, delivered once and in order", async () => {
  const { got } = await run("kill", "killed-now");
  expect(got.length).toBeLessThanOrEqual(COUNT);
  expect(got).toEqual(Array.from({ length: got.length }, (_, n) => n));
});

it("a publisher SIGKILLed after close() resolved without a drop: every message is delivered once, in order", async () => {
  const { got, closed } = await run("close", "killed-after-close");
  expect(closed).toMatchObject({ type: "closed", drops: [] });
  expect(got).toEqual(Array.from({ length: COUNT }, (_, n) => n));
});
