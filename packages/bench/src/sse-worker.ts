// One process of the SSE benchmark. argv: <role> [...]
//   fe                     front end: /sfn (SFN Channel SSE) and /better (better-sse channel)
//   clients <port> <path> <n>   n raw HTTP event-stream readers
//   pub <url>              SFN publisher (message.sse.send) in its own process
// Environment: SSE_PER_TURN_SFN / SSE_PER_TURN_BETTER (broadcasts per event-loop turn at
// saturation), SSE_MAX_BUFFER_BYTES (SFN's maxBufferBytes), SSE_TRACE=1 (per-phase diagnostics
// on stderr: front-end progress, longest event-loop stalls, each phase's tally).
import { createServer, request, Agent } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { once } from "node:events";
import { monitorEventLoopDelay } from "node:perf_hooks";
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

// The longest event-loop stall of this process since it was last reported (SSE_TRACE=1 prints it).
const loop = monitorEventLoopDelay({ resolution: 20 });
loop.enable();
function loopMaxMs(): number {
  const ms = loop.max / 1e6;
  loop.reset();
  return Math.round(ms);
}

function memory(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

async function frontEnd(): Promise<void> {
  // SSE_MAX_BUFFER_BYTES: SFN's per-client bound before a slow reader is disconnected (default 1 MiB).
  const maxBufferBytes = Number(process.env.SSE_MAX_BUFFER_BYTES) || undefined;
  const channel = withSse(new MessageChannel({ id: "web-1" }), { keepAlive: 15_000, maxBufferBytes });
  channel.sse.serve();
  const better = createChannel();
  // Errors the channel reported, by code (ERR_SSE_SLOW_CLIENT: a reader disconnected for falling
  // more than maxBufferBytes behind), counted rather than printed.
  const errors: Record<string, number> = {};
  channel.on("error", (e) => void (errors[e.code] = (errors[e.code] ?? 0) + 1));
  const http = createServer(async (req, res) => {
    if (req.url === "/sfn") channel.sse.connect(req, res);
    else if (req.url === "/better") better.register(await createSession(req, res));
    else res.writeHead(404).end();
  });
  // Open connections, for the bytes still waiting in them (one shared listener: the bookkeeping
  // must not weigh on the memory per idle client).
  const sockets = new Set<Socket>();
  function forget(this: Socket): void {
    sockets.delete(this);
  }
  http.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", forget);
  });
  http.maxConnections = 100_000;
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const { url } = await channel.listen({ server: http, path: "/sfn-channel" });
  process.on("message", async (m: { cmd: string; n?: number; rate?: number; seconds?: number; base?: number }) => {
    // Answered only once this process's event loop is free: while a burst is being fanned out,
    // nothing reaches the readers, and this reply waits for the burst to end.
    if (m.cmd === "progress") {
      let pending = 0;
      for (const socket of sockets) pending += socket.writableLength;
      const linked = channel.peers().reduce((n, p) => n + p.received, 0);
      send({ type: "progress", linked, pending, open: sockets.size, errors, loopMaxMs: loopMaxMs() });
    }
    if (m.cmd === "memory") send({ type: "memory", bytes: memory(), sfn: channel.sse.clients().length, better: better.sessionCount });
    // better-sse has no cross-process publishing: its broadcasts start here, one hop shorter than SFN's.
    const base = m.base ?? 0;
    const broadcast = (i: number): boolean => {
      better.broadcast({ s: base + i, t: nowMicros(), pad: PAD }, "bench");
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

/** A measured phase: its events are numbered `from` to `to - 1` (`s` in the payload). */
interface Phase {
  from: number;
  to: number;
  /** Deliveries of this phase, per reader. */
  got: Uint32Array;
  /** Deliveries of this phase that arrived after a later phase had started. */
  late: number;
}

async function clients(): Promise<void> {
  const [port, path, count] = [Number(rest[0]), rest[1] as string, Number(rest[2])];
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  let received = 0;
  let lastAt = 0;
  let latencies: number[] = [];
  let record = false;
  const requests: ReturnType<typeof request>[] = [];
  // Each event counts for the phase its number belongs to, whenever it arrives: a burst still
  // on its way when the next phase starts is "late", never the next phase's deliveries or latencies.
  const phases: Phase[] = [];
  let current: Phase | undefined;
  let outside = 0;
  let reordered = 0;
  const lastS = new Float64Array(count).fill(-1);
  const ended = new Uint8Array(count);
  let closing = false;
  let failed = 0;
  let next = 0;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const me = next++;
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
                // The payload starts {"s":<number>,: read without parsing the whole event.
                const s = Number(block.slice(at + skip + 5, block.indexOf(",", at + skip)));
                // Every reader gets every broadcast, in order.
                if (s <= (lastS[me] as number)) reordered++;
                lastS[me] = s;
                const phase = current && s >= current.from && s < current.to ? current : phases.find((f) => s >= f.from && s < f.to);
                if (!phase) {
                  outside++;
                  continue;
                }
                (phase.got[me] as number)++;
                if (phase !== current) {
                  phase.late++;
                  continue;
                }
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
            res.on("close", () => {
              if (!closing) ended[me] = 1;
            });
            resolve();
          });
          req.on("error", () => {
            failed++;
            ended[me] = 1;
            resolve();
          });
          req.end();
          requests.push(req);
        }),
    ),
  );
  process.on("message", (m: { cmd: string; latency?: boolean; from?: number; to?: number }) => {
    if (m.cmd === "reset") {
      current = undefined;
      if (m.from !== undefined && m.to !== undefined) {
        current = { from: m.from, to: m.to, got: new Uint32Array(count), late: 0 };
        phases.push(current);
      }
      received = 0;
      latencies = [];
      record = Boolean(m.latency);
      send({ type: "reset" });
    }
    if (m.cmd === "report") send({ type: "report", received, lastAt, latencies: m.latency ? latencies : [] });
    if (m.cmd === "tally") {
      // Per phase: what readers whose stream stayed open are missing (lost), and what readers
      // whose stream ended early are missing (cut off with their stream).
      const tally = phases.map((f) => {
        let lost = 0;
        let cutOff = 0;
        for (let i = 0; i < count; i++) {
          const missing = f.to - f.from - (f.got[i] as number);
          if (ended[i]) cutOff += missing;
          else lost += missing;
        }
        return { from: f.from, to: f.to, lost, cutOff, late: f.late };
      });
      const endedCount = ended.reduce((n, e) => n + e, 0);
      send({ type: "tally", phases: tally, ended: endedCount, failed, reordered, outside, loopMaxMs: loopMaxMs() });
    }
    if (m.cmd === "close") {
      closing = true;
      for (const r of requests) r.destroy();
      process.exit(0);
    }
  });
  send({ type: "ready" });
}

async function publisher(): Promise<void> {
  const message = withSse(new MessageChannel({ id: "rpc-1" }));
  await message.connect(rest[0] as string);
  process.on("message", async (m: { cmd: string; n?: number; rate?: number; seconds?: number; base?: number }) => {
    const base = m.base ?? 0;
    const push = (s: number): boolean => message.sse.emit("bench", { s: base + s, t: nowMicros(), pad: PAD });
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
