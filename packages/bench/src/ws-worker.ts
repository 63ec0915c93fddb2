// One process of the WebSocket push benchmark. argv: <role> [...]
//   fe                      Socket.IO front end (with the Redis adapter) + SFN channel serving it
//   clients <port> <n>      n socket.io-client connections, measuring deliveries and latency
//   pub-sfn <url>           SFN publisher (message.ws.emit)
//   pub-emitter             @socket.io/redis-emitter publisher
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { Redis } from "ioredis";
import { Server } from "socket.io";
import { io as connectClient, type Socket } from "socket.io-client";
import { createAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { MessageChannel } from "@sfn/channel-core";
import { withWs } from "@sfn/channel-ws";
import { nowMicros } from "./payload.js";
import { flood, paced } from "./pace.js";

const [role, ...rest] = process.argv.slice(2);
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const send = (m: unknown): void => void process.send?.(m);
const PAD = "x".repeat(60);

async function frontEnd(): Promise<void> {
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"] });
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub, { key: "sfn-bench" }));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const channel = withWs(new MessageChannel({ id: "web-1" }));
  const { url } = await channel.listen({ server: http, path: "/sfn-channel" });
  // WS_COALESCE=0: the front end as before write coalescing (for before/after figures).
  channel.ws.serve(io, { coalesceWrites: process.env.WS_COALESCE !== "0" });
  process.on("message", async (m: { cmd: string }) => {
    if (m.cmd === "count") send({ type: "count", n: io.of("/").sockets.size, rss: process.memoryUsage().rss });
    if (m.cmd === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", micros: user + system, user, system });
    }
    if (m.cmd === "close") process.exit(0);
  });
  send({ type: "ready", url, port: (http.address() as AddressInfo).port });
}

const connected = (s: Socket): Promise<void> => new Promise((r) => (s.connected ? r() : s.once("connect", () => r())));

async function clients(): Promise<void> {
  const [port, count] = rest.map(Number) as [number, number];
  const sockets: Socket[] = [];
  let received = 0;
  let lastAt = 0;
  let latencies: number[] = [];
  // Latency to the first client that got each broadcast: the hop, without the fan-out.
  let firsts = new Map<number, number>();
  let record = false;
  for (let i = 0; i < count; i++) {
    const s = connectClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true });
    s.on("bench", (p: { t: number; seq: number }) => {
      received++;
      lastAt = nowMicros();
      if (record) {
        latencies.push(lastAt - p.t);
        if (!firsts.has(p.seq)) firsts.set(p.seq, lastAt - p.t);
      }
    });
    sockets.push(s);
    if (i % 50 === 49) await Promise.all(sockets.slice(-50).map(connected));
  }
  await Promise.all(sockets.map(connected));
  process.on("message", (m: { cmd: string; latency?: boolean }) => {
    if (m.cmd === "reset") {
      received = 0;
      latencies = [];
      firsts = new Map();
      record = Boolean(m.latency);
      send({ type: "reset" });
    }
    if (m.cmd === "report")
      send({ type: "report", received, lastAt, latencies: m.latency ? latencies : [], firsts: m.latency ? [...firsts.values()] : [] });
    if (m.cmd === "close") {
      for (const s of sockets) s.disconnect();
      process.exit(0);
    }
  });
  send({ type: "ready" });
}

interface Pusher {
  emit(seq: number): boolean;
  drain(): Promise<void>;
}

async function publisher(kind: "sfn" | "emitter"): Promise<void> {
  let pusher: Pusher;
  if (kind === "sfn") {
    const message = withWs(new MessageChannel({ id: "rpc-1" }));
    await message.connect(rest[0] as string);
    pusher = {
      emit: (seq) => message.ws.emit("bench", { seq, t: nowMicros(), pad: PAD }),
      drain: async () => void (await once(message, "drain")),
    };
  } else {
    // Auto-pipelining (ioredis's fastest mode): the PUBLISHes of one tick go in one write.
    const redis = new Redis(redisUrl, { enableAutoPipelining: true });
    const emitter = new Emitter(redis, { key: "sfn-bench" });
    // The emitter gives no backpressure signal. A PING after every 100 emits is answered once Redis
    // has taken them; up to 8 may be outstanding (800 emits queued in ioredis) before the publisher
    // waits, so the pipeline never runs dry, as SFN's resume window does not either.
    let sincePing = 0;
    const pings: Promise<unknown>[] = [];
    pusher = {
      emit: (seq) => {
        emitter.emit("bench", { seq, t: nowMicros(), pad: PAD });
        if (++sincePing < 100) return true;
        sincePing = 0;
        pings.push(redis.ping());
        return pings.length < 8;
      },
      drain: async () => {
        while (pings.length >= 8) await pings.shift();
      },
    };
  }
  process.on("message", async (m: { cmd: string; n?: number; rate?: number; seconds?: number }) => {
    if (m.cmd === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", micros: user + system });
    } else if (m.cmd === "saturate") {
      send({
        type: "done",
        startAt: await flood(
          m.n as number,
          (i) => pusher.emit(i),
          () => pusher.drain(),
          100,
        ),
      });
    } else if (m.cmd === "rate") {
      send({
        type: "done",
        startAt: await paced(
          m.rate as number,
          m.seconds as number,
          (i) => pusher.emit(i),
          () => pusher.drain(),
        ),
      });
    } else if (m.cmd === "close") process.exit(0);
  });
  send({ type: "ready" });
}

const main = { fe: frontEnd, clients, "pub-sfn": () => publisher("sfn"), "pub-emitter": () => publisher("emitter") }[role as string];
if (!main) throw new Error(`unknown role ${role}`);
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
