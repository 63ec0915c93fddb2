// demo-rpc: a backend service with no browser connections. It links to demo-web, publishes
// `greeting`, and pushes WebSocket and SSE messages to demo-web's browsers: a broadcast on a
// timer, and on request (the `demo.request` topic demo-web publishes when a button is pressed).
// With DEMO_ROUTER=nats the same channel runs over NATS: no link to dial, demo-web is found
// through presence.
import { MessageChannel } from "@sfn/channel-core";
import { nats } from "@sfn/channel-nats";
import { withSse } from "@sfn/channel-sse";
import { withWs } from "@sfn/channel-ws";
import { demoSecret } from "../../shared/demo-secret.mjs";

const webUrl = process.env.DEMO_WEB_URL ?? `ws://127.0.0.1:${process.env.DEMO_WEB_PORT ?? 3000}/sfn-channel`;
const tickMs = Number(process.env.DEMO_TICK_MS ?? 2000);
const natsUrl = process.env.DEMO_ROUTER === "nats" ? (process.env.NATS_URL ?? "nats://127.0.0.1:4222") : undefined;
const rpc = withSse(
  withWs(
    new MessageChannel(
      natsUrl ? { id: "demo-rpc", router: nats({ servers: natsUrl, namespace: "demo" }) } : { id: "demo-rpc", secret: demoSecret() },
    ),
  ),
);

// Per-topic counters, published every second so the page can show messages per second.
const counts: Record<string, number> = {};
const count = (topic: string): void => void (counts[topic] = (counts[topic] ?? 0) + 1);

type Request =
  | { kind: "ws-me"; socketId: string }
  | { kind: "sse-me"; sseId: string }
  | { kind: "room" }
  | { kind: "sse-close"; sseId: string };

rpc.subscribe("demo.request", (req, meta) => {
  const r = req as Request;
  const at = new Date().toISOString();
  count("demo.request");
  switch (r.kind) {
    case "ws-me":
      rpc.ws
        .via(meta.from)
        .to(r.socketId)
        .emit("direct", { text: `just for you, socket ${r.socketId}`, at });
      count("ws:direct");
      break;
    case "sse-me":
      rpc.sse
        .via(meta.from)
        .to(r.sseId)
        .emit("direct", { text: `just for you, SSE client ${r.sseId}`, at });
      count("sse:direct");
      break;
    case "room":
      rpc.ws.to("demo-room").emit("room", { text: "to everyone in demo-room", at });
      rpc.sse.in("demo-room").emit("room", { text: "to everyone in demo-room", at });
      count("ws:room");
      count("sse:room");
      break;
    case "sse-close":
      rpc.sse.via(meta.from).to(r.sseId).close();
      count("sse:close");
      break;
  }
});
rpc.on("link:up", ({ peer, resumed }) => console.log(`demo-rpc: linked to ${peer}${resumed ? " (resumed)" : ""}`));
rpc.on("link:down", ({ peer, reason }) => console.log(`demo-rpc: link to ${peer} down (${reason})${natsUrl ? "" : ", reconnecting"}`));
rpc.on("error", (e) => console.error(`demo-rpc: ${e.code} ${e.message}`));

let n = 0;
const ticker = setInterval(() => {
  n++;
  const at = new Date().toISOString();
  rpc.publish("greeting", `Hello, World! #${n}`);
  rpc.ws.emit("tick", { n, at });
  rpc.sse.emit("tick", { n, at });
  count("greeting");
  count("ws:tick");
  count("sse:tick");
}, tickMs);
const stats = setInterval(() => rpc.publish("demo.stats", { id: rpc.id, counts: { ...counts }, at: Date.now() }), 1000);

if (natsUrl) {
  // Over NATS nothing is dialled: link:up says when presence has heard demo-web.
  console.log(`demo-rpc: on NATS at ${natsUrl}, waiting for demo-web`);
  try {
    await rpc.ready();
  } catch (e) {
    console.error(`demo-rpc: cannot use NATS at ${natsUrl}: ${(e as Error).message}`);
    process.exit(1);
  }
} else {
  console.log(`demo-rpc: linking to ${webUrl}`);
  try {
    await rpc.connect(webUrl, { timeout: 60_000 });
  } catch (e) {
    const { code, message } = e as { code?: string; message: string };
    console.error(
      code === "ERR_DUPLICATE_ID"
        ? "demo-rpc: another demo-rpc is already linked to demo-web (service ids are unique); stop it first"
        : `demo-rpc: cannot link to ${webUrl}: ${code ?? ""} ${message}`,
    );
    process.exit(1);
  }
}

const stop = async (): Promise<void> => {
  clearInterval(ticker);
  clearInterval(stats);
  await rpc.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
