// demo-web: an HTTP server with Socket.IO and an SSE endpoint, serving one page. demo-rpc,
// which holds no browser connection, reaches this page's WebSocket and SSE clients through it.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { Server } from "socket.io";
import { MessageChannel, type PeerInfo } from "@sfn/channel-core";
import { withSse } from "@sfn/channel-sse";
import { withWs } from "@sfn/channel-ws";

const port = Number(process.env.DEMO_WEB_PORT ?? 3000);
const host = process.env.DEMO_WEB_HOST ?? "127.0.0.1";
const page = readFileSync(new URL("../public/index.html", import.meta.url));

const web = withSse(withWs(new MessageChannel({ id: "demo-web", secret: process.env.SFN_SECRET ?? "demo-secret" })));
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
let lastCounts: Record<string, number> = {};
let lastRemote = new Map<string, Record<string, number>>();

web.subscribe("greeting", () => count("greeting"));
web.subscribe("demo.stats", (s) => {
  const stats = s as { id: string; counts: Record<string, number>; at: number };
  count("demo.stats");
  remote.set(stats.id, { counts: stats.counts, at: stats.at });
});

function rates(now: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(now).map(([t, n]) => [t, n - (before[t] ?? 0)]));
}

function mesh(): object {
  const peers: PeerInfo[] = web.peers();
  const services = [{ id: web.id, role: "front end (Socket.IO + SSE)", self: true }, ...peers.map((p) => ({ id: p.id, role: "service", self: false }))];
  const links = peers.map((p) => ({ from: web.id, to: p.id, state: p.state, resumes: p.resumes, sent: p.sent, received: p.received, direction: p.direction }));
  const perService: Record<string, Record<string, number>> = { [web.id]: rates(counts, lastCounts) };
  for (const [id, r] of remote) perService[id] = rates(r.counts, lastRemote.get(id) ?? r.counts);
  return { services, links, rates: perService, clients: { ws: io.of("/").sockets.size, sse: web.sse.clients().length }, at: Date.now() };
}

const ticker = setInterval(() => {
  io.emit("mesh", mesh());
  lastCounts = { ...counts };
  lastRemote = new Map([...remote].map(([id, r]) => [id, { ...r.counts }]));
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
    web.sse.clients().find((c) => c.id === sseId)?.join("demo-room");
  });
  socket.on("push-room", () => request({ kind: "room" }));
  socket.on("close-sse", (sseId: unknown) => typeof sseId === "string" && request({ kind: "sse-close", sseId }));
});

await web.listen({ server: http, path: "/sfn-channel" });
await new Promise<void>((r) => http.listen(port, host, r));
console.log(`demo-web: open http://${host}:${port}/  (demo-rpc links to ws://${host}:${port}/sfn-channel)`);

const stop = async (): Promise<void> => {
  clearInterval(ticker);
  await web.close();
  io.disconnectSockets(true);
  io.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
