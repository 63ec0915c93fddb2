import { percentile } from "./payload.js";
import { settleClients as settle } from "./pace.js";
import { startWorker } from "./process.js";

/** Figures for one SSE implementation. */
export interface SseResult {
  system: string;
  /** NaN if the saturation phase stalled (see `stalled`). */
  deliveriesPerSec: number;
  p50: number;
  p99: number;
  /** Deliveries that never reached a reader whose stream stayed open (every phase, counted at the end). */
  lost: number;
  /** Deliveries that arrived, but only after the bench had stopped waiting for their phase. */
  late: number;
  /** Streams that ended before the bench closed them, and the deliveries they missed. */
  ended: number;
  cutOff: number;
  /** Of those, readers the front end disconnected for being slow (SFN reports each: ERR_SSE_SLOW_CLIENT). */
  slow: number;
  /** Events a reader got out of order or twice. */
  reordered: number;
  /** Phases whose readers and front end both stopped moving before every delivery arrived. */
  stalled: string[];
  bytesPerIdleClient: number;
}

export interface SseBenchOptions {
  clients: number;
  broadcasts: number;
  rate: number;
  seconds: number;
}

interface Progress {
  type: "progress";
  linked: number;
  pending: number;
  open: number;
  errors: Record<string, number>;
  loopMaxMs: number;
}

interface Tally {
  type: "tally";
  phases: { from: number; to: number; lost: number; cutOff: number; late: number }[];
  ended: number;
  failed: number;
  reordered: number;
  outside: number;
  loopMaxMs: number;
}

/**
 * 2,000 SSE clients on one front end: SFN pushed from another process, and better-sse's channel
 * broadcast. Every phase numbers its events apart (`s`), so a burst still on its way when the
 * next phase starts is counted late for its own phase, never as the next phase's deliveries or
 * latencies; and the bench stops waiting for a phase only when neither the readers nor the
 * front end (events received over the link, bytes waiting in its responses) moved for 3 s,
 * asked of the front end when it is free to answer.
 */
export async function runSse(o: SseBenchOptions): Promise<SseResult[]> {
  const fe = await startWorker("./sse-worker.ts", ["fe"], ["--expose-gc"]);
  const pub = await startWorker("./sse-worker.ts", ["pub", String(fe.ready.url)]);
  const trace = process.env.SSE_TRACE === "1";
  const results: SseResult[] = [];
  try {
    for (const kind of ["sfn", "better"] as const) {
      const before = (await fe.request<{ type: string; bytes: number }>({ cmd: "memory" }, "memory")).bytes;
      const slowBefore = (await fe.request<Progress>({ cmd: "progress" }, "progress")).errors.ERR_SSE_SLOW_CLIENT ?? 0;
      const clients = await startWorker("./sse-worker.ts", ["clients", String(fe.ready.port), `/${kind}`, String(o.clients)]);
      try {
        const after = (await fe.request<{ type: string; bytes: number }>({ cmd: "memory" }, "memory")).bytes;
        const frontEnd = async (): Promise<number[]> => {
          const asked = Date.now();
          const p = await fe.request<Progress>({ cmd: "progress" }, "progress");
          if (trace)
            console.error(`[sse ${kind}] readers idle 3 s; the front end answered in ${Date.now() - asked} ms: ${JSON.stringify(p)}`);
          return [p.linked, p.pending, p.open];
        };
        const stalled: string[] = [];
        let next = 0;
        // Starts a phase of `n` events: the readers count events numbered from here as its own.
        const phase = async (n: number, latency = false): Promise<number> => {
          const from = next;
          next += n;
          await clients.request({ cmd: "reset", latency, from, to: next }, "reset");
          return from;
        };
        const wait = async (label: string, n: number, latencies = false) => {
          const r = await settle(clients, n * o.clients, latencies, frontEnd);
          if (r.received < n * o.clients) stalled.push(`${label} (${r.received} of ${n * o.clients})`);
          if (trace) {
            const p = await fe.request<Progress>({ cmd: "progress" }, "progress");
            console.error(`[sse ${kind} ${label}] ${r.received}/${n * o.clients}; front end: ${JSON.stringify(p)}`);
          }
          return r;
        };
        const saturate = (n: number, base: number) =>
          kind === "sfn"
            ? pub.request<{ type: string; startAt: number }>({ cmd: "saturate", n, base }, "done")
            : fe.request<{ type: string; startAt: number }>({ cmd: "better-saturate", n, base }, "done");

        await saturate(50, await phase(50));
        await wait("warm-up", 50);

        const sat = await saturate(o.broadcasts, await phase(o.broadcasts));
        const r = await wait("saturation", o.broadcasts);
        const deliveriesPerSec = r.received < o.broadcasts * o.clients ? Number.NaN : r.received / ((r.lastAt - sat.startAt) / 1e6);

        const total = Math.round(o.rate * o.seconds);
        const base = await phase(total, true);
        const msg = { cmd: kind === "sfn" ? "rate" : "better-rate", rate: o.rate, seconds: o.seconds, base };
        await (kind === "sfn" ? pub : fe).request(msg, "done");
        const lat = await wait("latency", total, true);

        const tally = await clients.request<Tally>({ cmd: "tally" }, "tally");
        const slow = ((await fe.request<Progress>({ cmd: "progress" }, "progress")).errors.ERR_SSE_SLOW_CLIENT ?? 0) - slowBefore;
        if (trace) console.error(`[sse ${kind} tally] ${JSON.stringify(tally)}`);
        const sum = (k: "lost" | "cutOff" | "late") => tally.phases.reduce((n, p) => n + p[k], 0);
        results.push({
          system:
            kind === "sfn" ? "sfn-channel (message.sse.emit from another process)" : "better-sse (channel.broadcast in the front end)",
          deliveriesPerSec,
          p50: percentile(lat.latencies, 50) / 1000,
          p99: percentile(lat.latencies, 99) / 1000,
          lost: sum("lost"),
          late: sum("late"),
          ended: tally.ended,
          cutOff: sum("cutOff"),
          slow,
          reordered: tally.reordered + tally.outside,
          stalled,
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
