// `pnpm bench`: every benchmark, each system measured in the same run, figures and ratios printed.
import os from "node:os";
import { runCore, type CoreResult } from "./core-bench.js";
import { runWs } from "./ws-bench.js";
import { runSse } from "./sse-bench.js";

const args = new Set(process.argv.slice(2));
const quick = args.has("--quick") || process.env.BENCH_QUICK === "1";

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "n/a";
}

async function core(): Promise<void> {
  const o = { messages: quick ? 200_000 : 1_000_000, rate: 20_000, seconds: quick ? 2 : 5 };
  console.log(`\n## Core pub/sub: 100-byte payloads, publisher and subscriber in separate processes`);
  console.log(`saturation: ${fmt(o.messages)} messages; latency: ${fmt(o.rate)} msg/s for ${o.seconds} s\n`);
  const results: CoreResult[] = [];
  for (const key of ["sfn", "sfnVolatile", "redis", "nats"] as const) {
    try {
      results.push(await runCore(key, o));
    } catch (err) {
      console.log(`- ${key}: failed: ${(err as Error).message}`);
    }
  }
  console.log("| system | msgs/s at saturation | p50 ms @20k/s | p99 ms @20k/s | lost | out of order | dup | publisher max RSS MB |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(
      `| ${r.system} | ${fmt(r.throughput)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.lost} | ${r.outOfOrder} | ${r.duplicates} | ${fmt(r.pubRssMb)} |`,
    );
  }
  const ours = results.find((r) => r.system === "sfn-channel");
  const volatile = results.find((r) => r.system.startsWith("sfn-channel, volatile"));
  if (ours) {
    console.log("");
    if (volatile) {
      console.log(
        `cost of the resume window (sfn-channel vs its volatile mode): throughput x${fmt(ours.throughput / volatile.throughput, 2)}, ` +
          `p50 x${fmt(ours.p50 / volatile.p50, 2)}, p99 x${fmt(ours.p99 / volatile.p99, 2)}`,
      );
    }
    for (const other of results.filter((r) => !r.system.startsWith("sfn"))) {
      console.log(
        `sfn-channel vs ${other.system}: throughput x${fmt(ours.throughput / other.throughput, 2)}, ` +
          `p50 x${fmt(ours.p50 / other.p50, 2)}, p99 x${fmt(ours.p99 / other.p99, 2)} (lower latency ratio is better)`,
      );
    }
  }
}

async function ws(): Promise<void> {
  const o = {
    clients: Number(process.env.WS_CLIENTS ?? 500),
    broadcasts: quick ? 300 : 1000,
    deliveryRate: 10_000,
    seconds: quick ? 3 : 5,
  };
  console.log(`\n## WebSocket push: a publisher service to ${o.clients} socket.io-client connections on one front end`);
  console.log(
    `saturation: ${fmt(o.broadcasts)} broadcasts (${fmt(o.broadcasts * o.clients)} deliveries); latency: ${fmt(o.deliveryRate)} deliveries/s for ${o.seconds} s\n`,
  );
  const results = await runWs(o);
  console.log("| system | deliveries/s at saturation | p50 ms @10k/s | p99 ms @10k/s | first client p50 ms | first client p99 ms | lost |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(
      `| ${r.system} | ${fmt(r.deliveriesPerSec)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.firstP50, 2)} | ${fmt(r.firstP99, 2)} | ${r.lost} |`,
    );
  }
  const [ours, theirs] = results;
  if (ours && theirs) {
    console.log(
      `\nsfn-channel vs ${theirs.system}: throughput x${fmt(ours.deliveriesPerSec / theirs.deliveriesPerSec, 2)}, ` +
        `p50 x${fmt(ours.p50 / theirs.p50, 2)}, p99 x${fmt(ours.p99 / theirs.p99, 2)}, ` +
        `first-client p50 x${fmt(ours.firstP50 / theirs.firstP50, 2)}, p99 x${fmt(ours.firstP99 / theirs.firstP99, 2)} (lower latency ratio is better)`,
    );
  }
}

async function sse(): Promise<void> {
  const o = { clients: 2000, broadcasts: quick ? 100 : 300, rate: 10, seconds: quick ? 3 : 6 };
  console.log(`\n## SSE push: ${fmt(o.clients)} concurrent SSE clients on one front end`);
  console.log(
    `saturation: ${fmt(o.broadcasts)} broadcasts (${fmt(o.broadcasts * o.clients)} deliveries); latency: ${o.rate} broadcasts/s (${fmt(o.rate * o.clients)} deliveries/s) for ${o.seconds} s\n`,
  );
  const results = await runSse(o);
  console.log("| system | deliveries/s at saturation | p50 ms | p99 ms | lost | memory per idle client (KiB) |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(
      `| ${r.system} | ${fmt(r.deliveriesPerSec)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.lost} | ${fmt(r.bytesPerIdleClient / 1024, 1)} |`,
    );
  }
  const [ours, theirs] = results;
  if (ours && theirs) {
    console.log(
      `\nsfn-channel vs better-sse: throughput x${fmt(ours.deliveriesPerSec / theirs.deliveriesPerSec, 2)}, ` +
        `p50 x${fmt(ours.p50 / theirs.p50, 2)}, p99 x${fmt(ours.p99 / theirs.p99, 2)}, memory per idle client x${fmt(ours.bytesPerIdleClient / theirs.bytesPerIdleClient, 2)}`,
    );
  }
}

const only = [...args].find((a) => a.startsWith("--only="))?.slice("--only=".length);

console.log(`# SFN Channel benchmarks`);
console.log(
  `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
);
if (!only || only === "core") await core();
if (!only || only === "ws") await ws();
if (!only || only === "sse") await sse();
