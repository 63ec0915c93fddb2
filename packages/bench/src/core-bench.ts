import { settle } from "./pace.js";
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
  /** The publisher's CPU time per message at saturation (µs). */
  pubCpu: number;
  /** The subscriber's CPU time per message at saturation (µs), until its last message. */
  subCpu: number;
}

interface Report {
  type: "report";
  count: number;
  outOfOrder: number;
  duplicates: number;
  lastAt: number;
  p50: number;
  p99: number;
  cpuMicros: number;
}

/** Waits until the subscriber has `n` messages or stops making progress. */
function settleSub(sub: Worker, n: number): Promise<Report> {
  return settle(
    () => sub.request<Report>({ cmd: "report" }, "report"),
    (r) => r.count,
    n,
  );
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
    await settleSub(sub, 50_000);

    await sub.request({ cmd: "reset" }, "reset");
    const sat = await pub.request<{ type: string; startAt: number; maxRss: number; cpuMicros: number }>(
      { cmd: "saturate", n: o.messages },
      "done",
    );
    const satReport = await settleSub(sub, o.messages);
    const throughput = satReport.count / ((satReport.lastAt - sat.startAt) / 1e6);

    await sub.request({ cmd: "reset", latency: true }, "reset");
    const total = Math.round(o.rate * o.seconds);
    await pub.request({ cmd: "rate", rate: o.rate, seconds: o.seconds }, "done");
    const lat = await settleSub(sub, total);

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
      pubCpu: sat.cpuMicros / o.messages,
      subCpu: satReport.cpuMicros / satReport.count,
    };
  } finally {
    await pub.stop();
    await sub.stop();
  }
}
