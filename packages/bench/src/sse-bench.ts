import { percentile } from "./payload.js";
import { settleClients as settle } from "./pace.js";
import { startWorker } from "./process.js";

/** Figures for one SSE implementation. */
export interface SseResult {
  system: string;
  deliveriesPerSec: number;
  p50: number;
  p99: number;
  lost: number;
  bytesPerIdleClient: number;
}

export interface SseBenchOptions {
  clients: number;
  broadcasts: number;
  rate: number;
  seconds: number;
}

/** 2,000 SSE clients on one front end: SFN pushed from another process, and better-sse's channel broadcast. */
export async function runSse(o: SseBenchOptions): Promise<SseResult[]> {
  const fe = await startWorker("./sse-worker.ts", ["fe"], ["--expose-gc"]);
  const pub = await startWorker("./sse-worker.ts", ["pub", String(fe.ready.url)]);
  const results: SseResult[] = [];
  try {
    for (const kind of ["sfn", "better"] as const) {
      const before = (await fe.request<{ type: string; bytes: number }>({ cmd: "memory" }, "memory")).bytes;
      const clients = await startWorker("./sse-worker.ts", ["clients", String(fe.ready.port), `/${kind}`, String(o.clients)]);
      try {
        const after = (await fe.request<{ type: string; bytes: number }>({ cmd: "memory" }, "memory")).bytes;
        const saturate = (n: number) =>
          kind === "sfn" ? pub.request({ cmd: "saturate", n }, "done") : fe.request({ cmd: "better-saturate", n }, "done");
        await clients.request({ cmd: "reset" }, "reset");
        await saturate(50);
        await settle(clients, 50 * o.clients);

        await clients.request({ cmd: "reset" }, "reset");
        const sat = (await saturate(o.broadcasts)) as unknown as { startAt: number };
        const r = await settle(clients, o.broadcasts * o.clients);
        const deliveriesPerSec = r.received / ((r.lastAt - sat.startAt) / 1e6);

        await clients.request({ cmd: "reset", latency: true }, "reset");
        const total = Math.round(o.rate * o.seconds);
        const msg = { cmd: kind === "sfn" ? "rate" : "better-rate", rate: o.rate, seconds: o.seconds };
        await (kind === "sfn" ? pub : fe).request(msg, "done");
        const lat = await settle(clients, total * o.clients, true);
        results.push({
          system:
            kind === "sfn" ? "sfn-channel (message.sse.emit from another process)" : "better-sse (channel.broadcast in the front end)",
          deliveriesPerSec,
          p50: percentile(lat.latencies, 50) / 1000,
          p99: percentile(lat.latencies, 99) / 1000,
          lost: o.broadcasts * o.clients - r.received + (total * o.clients - lat.received),
          bytesPerIdleClient: (after - before) / o.clients,
        });
      } finally {
        await clients.stop();
      }
    }
  } finally {
    await pub.stop();
    await fe.stop();
  }
  return results;
}
