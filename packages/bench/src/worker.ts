// One side of a benchmark run, in its own process. argv: <pub|sub> <system> [address]
import { makePayload, nowMicros, percentile, Receiver } from "./payload.js";
import { flood, paced } from "./pace.js";
import { systems } from "./systems/index.js";

const [role, name, address] = process.argv.slice(2);
const system = systems[name as keyof typeof systems];
const TOPIC = "bench.topic";
const send = (m: unknown): void => void process.send?.(m);
/** User + system CPU time since `from` (µs). */
const cpuSince = (from: NodeJS.CpuUsage): number => {
  const { user, system } = process.cpuUsage(from);
  return user + system;
};

async function main(): Promise<void> {
  if (!system) throw new Error(`unknown system ${name}`);
  if (role === "sub") {
    const rx = new Receiver();
    const { sub, address: addr } = await system.subscriber(TOPIC, (b) => rx.onPayload(b));
    // CPU time since the last reset: the subscriber's cost per message, receiving included.
    let cpu0 = process.cpuUsage();
    process.on("message", async (m: { cmd: string; latency?: boolean; all?: boolean }) => {
      if (m.cmd === "reset") {
        rx.reset();
        cpu0 = process.cpuUsage();
        rx.recordLatency = Boolean(m.latency);
        send({ type: "reset" });
      } else if (m.cmd === "report") {
        rx.flushStamp();
        send({
          type: "report",
          count: rx.count,
          outOfOrder: rx.outOfOrder,
          duplicates: rx.duplicates,
          firstAt: rx.firstAt,
          lastAt: rx.lastAt,
          p50: percentile(rx.latencies, 50),
          p99: percentile(rx.latencies, 99),
          // Every latency, when asked: percentiles over several subscribers need them all.
          latencies: m.all ? rx.latencies : undefined,
          rss: process.memoryUsage().rss,
          cpuMicros: cpuSince(cpu0),
        });
      } else if (m.cmd === "close") {
        await sub.close();
        process.exit(0);
      }
    });
    send({ type: "ready", address: addr });
    return;
  }

  const pub = await system.publisher(TOPIC, address);
  let maxRss = 0;
  const sample = (): void => {
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
  };
  process.on("message", async (m: { cmd: string; n?: number; rate?: number; seconds?: number }) => {
    if (m.cmd === "saturate") {
      const cpu0 = process.cpuUsage();
      // No latency is taken at saturation: the payloads carry a clock read once per 64.
      let stamp = 0;
      const startAt = await flood(
        m.n as number,
        (i) => pub.publish(makePayload(i, (i & 63) === 0 ? (stamp = nowMicros()) : stamp)),
        () => pub.drain(),
        1000,
        (i) => i % 50_000 === 0 && sample(),
      );
      await pub.flush();
      sample();
      // The publisher's CPU time over the run, waiting included (which costs none).
      send({ type: "done", startAt, endAt: nowMicros(), maxRss, cpuMicros: cpuSince(cpu0) });
    } else if (m.cmd === "rate") {
      const startAt = await paced(
        m.rate as number,
        m.seconds as number,
        (i) => pub.publish(makePayload(i)),
        () => pub.drain(),
        sample,
      );
      await pub.flush();
      send({ type: "done", startAt, endAt: nowMicros(), maxRss });
    } else if (m.cmd === "close") {
      await pub.close();
      process.exit(0);
    }
  });
  send({ type: "ready" });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
