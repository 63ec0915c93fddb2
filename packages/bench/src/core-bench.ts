import { startWorker, type Worker } from "./process.js";
import { systems } from "./systems/index.js";

/** Figures for one system. */
export interface CoreResult {
  system: string;
  sent: number;
  received: number;
  lost: number;
  outOfOrder: number;
  duplicates: number;
  throughput: number;
  p50: number;
  p99: number;
  pubRssMb: number;
}

interface Report {
  type: "report";
  count: number;
  outOfOrder: number;
  duplicates: number;
  lastAt: number;
  p50: number;
  p99: number;
}

/** Polls the subscriber until it has `n` messages or stops making progress for `idleMs`. */
async function settle(sub: Worker, n: number, idleMs = 3000): Promise<Report> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const r = await sub.request<Report>({ cmd: "report" }, "report");
    if (r.count >= n) return r;
    if (r.count !== last) {
      last = r.count;
      since = Date.now();
    } else if (Date.now() - since > idleMs) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
}

export interface CoreBenchOptions {
  messages: number;
  rate: number;
  seconds: number;
}

/** Runs the saturation and fixed-rate measures for one system, in two fresh processes. */
export async function runCore(key: keyof typeof systems, o: CoreBenchOptions): Promise<CoreResult> {
  const sub = await startWorker("./worker.ts", ["sub", key]);
  const pub = await startWorker("./worker.ts", ["pub", key, String(sub.ready.address ?? "")]);
  try {
    // Warm-up: connections, JIT.
    await sub.request({ cmd: "reset" }, "reset");
    await pub.request({ cmd: "saturate", n: 50_000 }, "done");
    await settle(sub, 50_000);

    await sub.request({ cmd: "reset" }, "reset");
    const sat = await pub.request<{ type: string; startAt: number; maxRss: number }>({ cmd: "saturate", n: o.messages }, "done");
    const satReport = await settle(sub, o.messages);
    const throughput = satReport.count / ((satReport.lastAt - sat.startAt) / 1e6);

    await sub.request({ cmd: "reset", latency: true }, "reset");
    const total = Math.round(o.rate * o.seconds);
    await pub.request({ cmd: "rate", rate: o.rate, seconds: o.seconds }, "done");
    const lat = await settle(sub, total);

    return {
      system: systems[key].name,
      sent: o.messages + total,
      received: satReport.count + lat.count,
      lost: o.messages - satReport.count + (total - lat.count),
      outOfOrder: satReport.outOfOrder + lat.outOfOrder,
      duplicates: satReport.duplicates + lat.duplicates,
      throughput,
      p50: lat.p50 / 1000,
      p99: lat.p99 / 1000,
      pubRssMb: sat.maxRss / 1024 / 1024,
    };
  } finally {
    await pub.stop();
    await sub.stop();
  }
}
