// `pnpm bench --only=durable`: what durability costs. The same run, the same payload and server:
// SFN over NATS in durable mode (JetStream: stored, acknowledged both ways) vs raw JetStream
// through nats.js with the same acknowledgements vs SFN over core NATS vs the mesh. A private JetStream-enabled nats-server on a free port, started here.
import { startNatsServer } from "@sfn/test-utils";
import { runFanout, type FanoutResult } from "./nats-bench.js";

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "n/a";
}

/** Prints the durable section: one publisher process, one subscriber process per system. */
export async function durableSection(quick: boolean): Promise<void> {
  const o = { subscribers: 1, messages: quick ? 20_000 : 100_000, rate: 2_000, seconds: quick ? 2 : 5 };
  const server = await startNatsServer({ jetstream: true });
  const saved = process.env.NATS_URL;
  process.env.NATS_URL = server.url;
  try {
    console.log(`\n## Durable delivery: SFN over NATS with JetStream vs raw JetStream vs SFN over core NATS vs the mesh`);
    console.log(
      `a private JetStream nats-server on 127.0.0.1:${server.port} (file store, 1 replica); 100-byte payloads; ` +
        `saturation ${fmt(o.messages)} messages; latency ${fmt(o.rate)} msg/s for ${o.seconds} s; each side its own process\n`,
    );
    const results: FanoutResult[] = [];
    for (const key of ["sfnDurable", "natsJetStream", "sfnNats", "sfn"] as const) {
      try {
        results.push(await runFanout(key, o));
      } catch (err) {
        console.log(`- ${key}: failed: ${(err as Error).message}`);
      }
    }
    console.log("| system | msgs/s at saturation | p50 ms | p99 ms | lost | out of order | dup | publisher max RSS MB |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const r of results) {
      console.log(
        `| ${r.system} | ${fmt(r.throughput)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.lost} | ${r.outOfOrder} | ${r.duplicates} | ${fmt(r.pubRssMb)} |`,
      );
    }
    const durable = results.find((r) => r.system === "sfn-channel over NATS, durable");
    console.log("");
    for (const other of results.filter((r) => r !== durable)) {
      if (!durable) break;
      console.log(
        `durable vs ${other.system}: throughput x${fmt(durable.throughput / other.throughput, 2)}, ` +
          `p50 x${fmt(durable.p50 / other.p50, 2)}, p99 x${fmt(durable.p99 / other.p99, 2)} (lower latency ratio is better)`,
      );
    }
  } finally {
    if (saved === undefined) delete process.env.NATS_URL;
    else process.env.NATS_URL = saved;
    await server.stop();
  }
}
