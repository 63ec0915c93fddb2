import { percentile } from "./payload.js";
import { settleClients as settle } from "./pace.js";
import { startWorker } from "./process.js";

/** Figures for one way of pushing to browsers. */
export interface WsResult {
  system: string;
  deliveriesPerSec: number;
  p50: number;
  p99: number;
  /** Latency to the first client of each broadcast (the hop without the fan-out). */
  firstP50: number;
  firstP99: number;
  lost: number;
}

export interface WsBenchOptions {
  clients: number;
  broadcasts: number;
  deliveryRate: number;
  seconds: number;
}

/**
 * Saturation and fixed-rate latency for SFN and for the Redis emitter, against the same front
 * end and the same clients. Both publishers warm up first; latency is measured in eight rounds
 * that alternate between the systems (a system measured later profits from a warmer client
 * process, by as much as the difference being measured).
 */
export async function runWs(o: WsBenchOptions): Promise<WsResult[]> {
  const fe = await startWorker("./ws-worker.ts", ["fe"]);
  const clients = await startWorker("./ws-worker.ts", ["clients", String(fe.ready.port), String(o.clients)]);
  const systems = [
    { name: "sfn-channel (message.ws.emit)", pub: await startWorker("./ws-worker.ts", ["pub-sfn", String(fe.ready.url)]) },
    { name: "@socket.io/redis-emitter + redis-adapter", pub: await startWorker("./ws-worker.ts", ["pub-emitter"]) },
  ];
  const stats = systems.map(() => ({ throughput: 0, latencies: [] as number[], firsts: [] as number[], lost: 0 }));
  try {
    for (const s of systems) {
      await clients.request({ cmd: "reset" }, "reset");
      await s.pub.request({ cmd: "saturate", n: 300 }, "done");
      await settle(clients, 300 * o.clients);
    }
    for (const [i, s] of systems.entries()) {
      await clients.request({ cmd: "reset" }, "reset");
      const sat = await s.pub.request<{ type: string; startAt: number }>({ cmd: "saturate", n: o.broadcasts }, "done");
      const r = await settle(clients, o.broadcasts * o.clients);
      stats[i]!.throughput = r.received / ((r.lastAt - sat.startAt) / 1e6);
      stats[i]!.lost += o.broadcasts * o.clients - r.received;
    }
    const rounds = process.env.WS_ROUNDS ? process.env.WS_ROUNDS.split(",").map(Number) : [0, 1, 0, 1, 1, 0, 1, 0];
    const rate = o.deliveryRate / o.clients;
    const seconds = (o.seconds * 2) / rounds.length;
    const total = Math.round(rate * seconds);
    for (const i of rounds) {
      await clients.request({ cmd: "reset", latency: true }, "reset");
      await systems[i]!.pub.request({ cmd: "rate", rate, seconds }, "done");
      const r = await settle(clients, total * o.clients, true);
      stats[i]!.latencies.push(...r.latencies);
      stats[i]!.firsts.push(...(r.firsts ?? []));
      stats[i]!.lost += total * o.clients - r.received;
    }
  } finally {
    for (const s of systems) await s.pub.stop();
    await clients.stop();
    await fe.stop();
  }
  return systems.map((s, i) => ({
    system: s.name,
    deliveriesPerSec: stats[i]!.throughput,
    p50: percentile(stats[i]!.latencies, 50) / 1000,
    p99: percentile(stats[i]!.latencies, 99) / 1000,
    firstP50: percentile(stats[i]!.firsts, 50) / 1000,
    firstP99: percentile(stats[i]!.firsts, 99) / 1000,
    lost: stats[i]!.lost,
  }));
}
