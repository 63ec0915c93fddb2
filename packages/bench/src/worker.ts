// One side of a benchmark run, in its own process. argv: <pub|sub> <system> [address]
import { makePayload, nowMicros, percentile, Receiver } from "./payload.js";
import { systems } from "./systems/index.js";

const [role, name, address] = process.argv.slice(2);
const system = systems[name as keyof typeof systems];
const TOPIC = "bench.topic";
const send = (m: unknown): void => void process.send?.(m);
const yieldToIo = (): Promise<void> => new Promise((r) => setImmediate(r));

async function main(): Promise<void> {
  if (!system) throw new Error(`unknown system ${name}`);
  if (role === "sub") {
    const rx = new Receiver();
    const { sub, address: addr } = await system.subscriber(TOPIC, (b) => rx.onPayload(b));
    process.on("message", async (m: { cmd: string; latency?: boolean }) => {
      if (m.cmd === "reset") {
        rx.reset();
        rx.recordLatency = Boolean(m.latency);
        send({ type: "reset" });
      } else if (m.cmd === "report") {
        send({
          type: "report",
          count: rx.count,
          outOfOrder: rx.outOfOrder,
          duplicates: rx.duplicates,
          firstAt: rx.firstAt,
          lastAt: rx.lastAt,
          p50: percentile(rx.latencies, 50),
          p99: percentile(rx.latencies, 99),
          rss: process.memoryUsage().rss,
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
      const n = m.n as number;
      const startAt = nowMicros();
      for (let i = 0; i < n; ) {
        if (!pub.publish(makePayload(i++))) await pub.drain();
        if (i % 1000 === 0) {
          if (i % 50_000 === 0) sample();
          await yieldToIo();
        }
      }
      await pub.flush();
      send({ type: "done", startAt, endAt: nowMicros(), maxRss });
    } else if (m.cmd === "rate") {
      const rate = m.rate as number;
      const total = Math.round(rate * (m.seconds as number));
      const startAt = nowMicros();
      let sent = 0;
      while (sent < total) {
        const due = Math.min(total, Math.floor(((nowMicros() - startAt) * rate) / 1e6));
        while (sent < due) {
          if (!pub.publish(makePayload(sent++))) await pub.drain();
        }
        sample();
        await new Promise((r) => setTimeout(r, 1));
      }
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
