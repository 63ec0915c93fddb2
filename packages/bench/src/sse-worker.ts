// One process of the SSE benchmark. argv: <role> [...]
//   fe                     front end: /sfn (SFN Channel SSE) and /better (better-sse channel)
//   clients <port> <path> <n>   n raw HTTP event-stream readers
//   pub <url>              SFN publisher (message.sse.send) in its own process
import { createServer, request, Agent } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { createChannel, createSession } from "better-sse";
import { MessageChannel } from "@sfn/channel-core";
import { withSse } from "@sfn/channel-sse";
import { nowMicros } from "./payload.js";
import { flood, paced } from "./pace.js";

const [role, ...rest] = process.argv.slice(2);
const send = (m: unknown): void => void process.send?.(m);
const PAD = "x".repeat(60);
const gc = (globalThis as { gc?: () => void }).gc;
// Broadcasts per event-loop turn at saturation, then a setImmediate lets I/O run. One per turn
// capped better-sse at less than half its speed; 16 (4-64 measured) is its fastest, and SFN's
// publisher is driven the same way.
const PER_TURN = { better: Number(process.env.SSE_PER_TURN_BETTER ?? 16), sfn: Number(process.env.SSE_PER_TURN_SFN ?? 16) };

function memory(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

async function frontEnd(): Promise<void> {
  const channel = withSse(new MessageChannel({ id: "web-1" }), { keepAlive: 15_000 });
  channel.sse.serve();
  const better = createChannel();
  const http = createServer(async (req, res) => {
    if (req.url === "/sfn") channel.sse.connect(req, res);
    else if (req.url === "/better") better.register(await createSession(req, res));
    else res.writeHead(404).end();
  });
  http.maxConnections = 100_000;
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const { url } = await channel.listen({ server: http, path: "/sfn-channel" });
  process.on("message", async (m: { cmd: string; n?: number; rate?: number; seconds?: number }) => {
    if (m.cmd === "memory") send({ type: "memory", bytes: memory(), sfn: channel.sse.clients().length, better: better.sessionCount });
    // better-sse has no cross-process publishing: its broadcasts start here, one hop shorter than SFN's.
    const broadcast = (i: number): boolean => {
      better.broadcast({ s: i, t: nowMicros(), pad: PAD }, "bench");
      return true;
    };
    if (m.cmd === "better-saturate")
      send({ type: "done", startAt: await flood(m.n as number, broadcast, async () => {}, PER_TURN.better) });
    if (m.cmd === "better-rate")
      send({ type: "done", startAt: await paced(m.rate as number, m.seconds as number, broadcast, async () => {}) });
    if (m.cmd === "close") process.exit(0);
  });
  send({ type: "ready", url, port: (http.address() as AddressInfo).port, memory: memory() });
}

async function clients(): Promise<void> {
  const [port, path, count] = [Number(rest[0]), rest[1] as string, Number(rest[2])];
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  let received = 0;
  let lastAt = 0;
  let latencies: number[] = [];
  let record = false;
  const requests: ReturnType<typeof request>[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const req = request({ host: "127.0.0.1", port, path, agent, headers: { Accept: "text/event-stream" } }, (res) => {
            res.setEncoding("utf8");
            let buf = "";
            res.on("data", (chunk: string) => {
              buf += chunk;
              let end: number;
              while ((end = buf.indexOf("\n\n")) !== -1) {
                const block = buf.slice(0, end);
                buf = buf.slice(end + 2);
                // "data:" may or may not be followed by a space (both are valid SSE).
                let at = block.indexOf('data:{"s"');
                let skip = 5;
                if (at === -1) {
                  at = block.indexOf('data: {"s"');
                  skip = 6;
                }
                if (at === -1) continue;
                received++;
                lastAt = nowMicros();
                if (record) {
                  const nl = block.indexOf("\n", at);
                  const p = JSON.parse(block.slice(at + skip, nl === -1 ? undefined : nl)) as { t: number };
                  latencies.push(lastAt - p.t);
                }
              }
            });
            res.on("error", () => {});
            resolve();
          });
          req.on("error", () => resolve());
          req.end();
          requests.push(req);
        }),
    ),
  );
  process.on("message", (m: { cmd: string; latency?: boolean }) => {
    if (m.cmd === "reset") {
      received = 0;
      latencies = [];
      record = Boolean(m.latency);
      send({ type: "reset" });
    }
    if (m.cmd === "report") send({ type: "report", received, lastAt, latencies: m.latency ? latencies : [] });
    if (m.cmd === "close") {
      for (const r of requests) r.destroy();
      process.exit(0);
    }
  });
  send({ type: "ready" });
}

async function publisher(): Promise<void> {
  const message = withSse(new MessageChannel({ id: "rpc-1" }));
  await message.connect(rest[0] as string);
  const push = (s: number): boolean => message.sse.emit("bench", { s, t: nowMicros(), pad: PAD });
  process.on("message", async (m: { cmd: string; n?: number; rate?: number; seconds?: number }) => {
    const drain = async (): Promise<void> => void (await once(message, "drain"));
    if (m.cmd === "saturate") {
      send({ type: "done", startAt: await flood(m.n as number, push, drain, PER_TURN.sfn) });
    } else if (m.cmd === "rate") {
      send({ type: "done", startAt: await paced(m.rate as number, m.seconds as number, push, drain) });
    } else if (m.cmd === "close") process.exit(0);
  });
  send({ type: "ready" });
}

const main = { fe: frontEnd, clients, pub: publisher }[role as string];
if (!main) throw new Error(`unknown role ${role}`);
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
