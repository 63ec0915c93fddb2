import { settle } from "./pace.js";
import { percentile } from "./payload.js";
import { startWorker, type Worker } from "./process.js";
import { systems } from "./systems/index.js";

/** Figures for one system with one or more subscriber processes. */
export interface FanoutResult {
  system: string;
  subscribers: number;
  /** Messages per second, each delivered to every subscriber (saturation). */
  throughput: number;
  /** Deliveries per second over all subscribers (saturation). */
  deliveries: number;
  p50: number;
  p99: number;
  lost: number;
  outOfOrder: number;
  duplicates: number;
  pubRssMb: number;
  /** The publisher's CPU time per message at saturation (µs), each message going to every subscriber. */
  pubCpu: number;
}

interface Report {
  type: "report";
  count: number;
  outOfOrder: number;
  duplicates: number;
  lastAt: number;
  latencies?: number[];
}

export interface FanoutOptions {
  /** Subscriber processes, each receiving every message. */
  subscribers: number;
  /** Messages published as fast as allowed (saturation). */
  messages: number;
  /** Messages per second offered for the latency measure. */
  rate: number;
  seconds: number;
}

const report = (sub: Worker, all = false): Promise<Report> => sub.request<Report>({ cmd: "report", all }, "report");

/** Waits until every subscriber has `n` messages (or stops making progress). */
function settleAll(subs: Worker[], n: number): Promise<Report[]> {
  return Promise.all(
    subs.map((sub) =>
      settle(
        () => report(sub),
        (r) => r.count,
        n,
      ),
    ),
  );
}

const reset = (subs: Worker[], latency = false): Promise<unknown> =>
  Promise.all(subs.map((s) => s.request({ cmd: "reset", latency }, "reset")));

/**
 * One publisher process and `subscribers` subscriber processes of one system: a warm-up, the
 * saturation measure, then the fixed-rate latency measure (percentiles over every delivery).
 */
export async function runFanout(key: keyof typeof systems, o: FanoutOptions): Promise<FanoutResult> {
  const subs: (Worker & { ready: Record<string, unknown> })[] = [];
  let pub: Worker | undefined;
  try {
    for (let i = 0; i < o.subscribers; i++) subs.push(await startWorker("./worker.ts", ["sub", key]));
    const addresses = subs.map((s) => String(s.ready.address ?? "")).join(",");
    pub = await startWorker("./worker.ts", ["pub", key, addresses]);

    // Warm-up: connections, interest, JIT.
    const warm = Math.min(50_000, o.messages);
    await reset(subs);
    await pub.request({ cmd: "saturate", n: warm }, "done");
    await settleAll(subs, warm);

    await reset(subs);
    const sat = await pub.request<{ type: string; startAt: number; maxRss: number; cpuMicros: number }>(
      { cmd: "saturate", n: o.messages },
      "done",
    );
    const satReports = await settleAll(subs, o.messages);
    const received = satReports.reduce((a, r) => a + r.count, 0);
    const seconds = (Math.max(...satReports.map((r) => r.lastAt)) - sat.startAt) / 1e6;

    await reset(subs, true);
    const total = Math.round(o.rate * o.seconds);
    await pub.request({ cmd: "rate", rate: o.rate, seconds: o.seconds }, "done");
    await settleAll(subs, total);
    const lat = await Promise.all(subs.map((s) => report(s, true)));
    const latencies = lat.flatMap((r) => r.latencies ?? []);
    const latReceived = lat.reduce((a, r) => a + r.count, 0);

    return {
      system: systems[key].name,
      subscribers: o.subscribers,
      throughput: received / o.subscribers / seconds,
      deliveries: received / seconds,
      p50: percentile(latencies, 50) / 1000,
      p99: percentile(latencies, 99) / 1000,
      lost: (o.messages + total) * o.subscribers - received - latReceived,
      outOfOrder: [...satReports, ...lat].reduce((a, r) => a + r.outOfOrder, 0),
      duplicates: [...satReports, ...lat].reduce((a, r) => a + r.duplicates, 0),
      pubRssMb: sat.maxRss / 1024 / 1024,
      pubCpu: sat.cpuMicros / o.messages,
    };
  } finally {
    await pub?.stop();
    await Promise.all(subs.map((s) => s.stop()));
  }
}
