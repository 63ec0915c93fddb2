// demo-web: an HTTP server with Socket.IO and an SSE endpoint, serving one page. demo-rpc,
// which holds no browser connection, reaches this page's WebSocket and SSE clients through it:
// over a direct SFN link (the mesh, by default), or over NATS with DEMO_ROUTER=nats.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { Server } from "socket.io";
import { MessageChannel, type PeerInfo } from "@sfn/channel-core";
import { nats } from "@sfn/channel-nats";
import { withSse } from "@sfn/channel-sse";
import { withWs } from "@sfn/channel-ws";
import { demoSecret } from "../../shared/demo-secret.mjs";

const port = Number(process.env.DEMO_WEB_PORT ?? 3000);
const host = process.env.DEMO_WEB_HOST ?? "127.0.0.1";
const page = readFileSync(new URL("../public/index.html", import.meta.url));

// DEMO_ROUTER=nats: the same channel over NATS; only its construction changes (no secret: NATS's
// own auth applies; no listen: NATS routes, and peers come from presence).
const natsUrl = process.env.DEMO_ROUTER === "nats" ? (process.env.NATS_URL ?? "nats://127.0.0.1:4222") : undefined;
const web = withSse(
  withWs(
    new MessageChannel(
      natsUrl ? { id: "demo-web", router: nats({ servers: natsUrl, namespace: "demo" }) } : { id: "demo-web", secret: demoSecret() },
    ),
  ),
);
const http = createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/events") return void web.sse.connect(req, res);
  if (path === "/") return void res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }).end(page);
  res.writeHead(404).end("not found");
});
const io = new Server(http);
web.ws.serve(io);
web.sse.serve();

// Messages per second per topic: what this service receives and publishes, plus what the
// other services report about themselves on `demo.stats`.
const counts: Record<string, number> = {};
const count = (topic: string): void => void (counts[topic] = (counts[topic] ?? 0) + 1);
const remote = new Map<string, { counts: Record<string, number>; at: number }>();
// One snapshot of every service's counters per second; rates are averaged over the last 5 s.
const WINDOW = 5;
const snapshots: { at: number; counts: Map<string, Record<string, number>> }[] = [];

web.subscribe("greeting", () => count("greeting"));
web.subscribe("demo.stats", (s) => {
  const stats = s as { id: string; counts: Record<string, number>; at: number };
  count("demo.stats");
  remote.set(stats.id, { counts: stats.counts, at: stats.at });
});

function snapshot(): { at: number; counts: Map<string, Record<string, number>> } {
  const all = new Map<string, Record<string, number>>([[web.id, { ...counts }]]);
  for (const [id, r] of remote) all.set(id, { ...r.counts });
  return { at: Date.now(), counts: all };
}

function rates(): Record<string, Record<string, number>> {
  const now = snapshot();
  const then = snapshots[0] ?? now;
  const seconds = Math.max(1, (now.at - then.at) / 1000);
  const out: Record<string, Record<string, number>> = {};
  for (const [service, c] of now.counts) {
    // A service new to the window has no baseline yet (its counters began before we heard of
    // it); a topic new to a known service started from 0.
    const before = then.counts.get(service);
    out[service] = Object.fromEntries(
      Object.entries(c).map(([t, n]) => [t, before ? Math.round(((n - (before[t] ?? 0)) / seconds) * 10) / 10 : 0]),
    );
  }
  return out;
}

function mesh(): object {
  const peers: PeerInfo[] = web.peers();
  const services = [
    { id: web.id, role: "front end (Socket.IO + SSE)", self: true },
    // Over NATS these are the services heard through presence (announcements and heartbeats).
    ...peers.map((p) => ({ id: p.id, role: "service", self: false })),
  ];
  const links = peers.map((p) => ({
    from: web.id,
    to: p.id,
    state: p.state,
    resumes: p.resumes,
    sent: p.sent,
    received: p.received,
    direction: p.direction,
  }));
  return {
    router: natsUrl ? "nats" : "mesh",
    broker: natsUrl,
    services,
    links,
    rates: rates(),
    clients: { ws: io.of("/").sockets.size, sse: web.sse.clients().length },
    at: Date.now(),
  };
}

const ticker = setInterval(() => {
  snapshots.push(snapshot());
  if (snapshots.length > WINDOW + 1) snapshots.shift();
  io.emit("mesh", mesh());
}, 1000);
web.on("link:up", () => io.emit("mesh", mesh()));
web.on("link:down", ({ peer }) => {
  remote.delete(peer);
  io.emit("mesh", mesh());
});
web.on("error", (e) => console.error(`demo-web: ${e.code} ${e.message}`));

io.on("connection", (socket) => {
  socket.emit("mesh", mesh());
  const request = (body: object): void => {
    web.publish("demo.request", body);
    count("demo.request");
  };
  socket.on("push-me-ws", () => request({ kind: "ws-me", socketId: socket.id }));
  socket.on("push-me-sse", (sseId: unknown) => typeof sseId === "string" && request({ kind: "sse-me", sseId }));
  socket.on("join-room", (sseId: unknown) => {
    void socket.join("demo-room");
    web.sse
      .clients()
      .find((c) => c.id === sseId)
      ?.join("demo-room");
  });
  socket.on("push-room", () => request({ kind: "room" }));
  socket.on("close-sse", (sseId: unknown) => typeof sseId === "string" && request({ kind: "sse-close", sseId }));
});

if (natsUrl) {
  try {
    await web.ready();
  } catch (e) {
    console.error(`demo-web: cannot use NATS at ${natsUrl}: ${(e as Error).message}`);
    process.exit(1);
  }
} else {
  await web.listen({ server: http, path: "/sfn-channel" });
}
await new Promise<void>((r) => http.listen(port, host, r));
console.log(
  `demo-web: open http://${host}:${port}/  ` +
    (natsUrl
      ? `(over NATS at ${natsUrl}: demo-rpc finds this service through presence)`
      : `(demo-rpc links to ws://${host}:${port}/sfn-channel)`),
);

const stop = async (): Promise<void> => {
  clearInterval(ticker);
  await web.close();
  io.disconnectSockets(true);
  io.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
