// `pnpm bench`: every benchmark, each system measured in the same run, figures and ratios printed.
import { execFileSync } from "node:child_process";
import os from "node:os";
import { startNatsServer } from "@sfn/test-utils";
import { runCore, type CoreResult } from "./core-bench.js";
import { durableSection } from "./durable-bench.js";
import { runFanout, type FanoutResult } from "./nats-bench.js";
import { runWs } from "./ws-bench.js";
import { runWsHop, type WsHopResult, type WsHopRound } from "./ws-hop.js";
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
  for (const key of ["sfn", "sfnVolatile", "redis", "nats", "rawWs", "rawWsLarge"] as const) {
    try {
      results.push(await runCore(key, o));
    } catch (err) {
      console.log(`- ${key}: failed: ${(err as Error).message}`);
    }
  }
  console.log(
    "| system | msgs/s at saturation | p50 ms @20k/s | p99 ms @20k/s | lost | out of order | dup | publisher max RSS MB | publisher CPU µs/msg | subscriber CPU µs/msg |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(
      `| ${r.system} | ${fmt(r.throughput)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.lost} | ${r.outOfOrder} | ${r.duplicates} | ${fmt(r.pubRssMb)} | ${fmt(r.pubCpu, 2)} | ${fmt(r.subCpu, 2)} |`,
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
    for (const other of results.filter((r) => !r.system.startsWith("sfn") && !isCeiling(r.system))) {
      console.log(
        `sfn-channel vs ${other.system}: throughput x${fmt(ours.throughput / other.throughput, 2)}, ` +
          `p50 x${fmt(ours.p50 / other.p50, 2)}, p99 x${fmt(ours.p99 / other.p99, 2)} (lower latency ratio is better)`,
      );
    }
  }
  // How far from what the same stack (ws, MessagePack bytes, batched frames) does with no resume window, acks or auth.
  for (const ceiling of results.filter((r) => isCeiling(r.system))) {
    for (const r of [ours, volatile]) {
      if (!r) continue;
      console.log(
        `${r.system} vs ${ceiling.system}: throughput x${fmt(r.throughput / ceiling.throughput, 2)}, ` +
          `p50 x${fmt(r.p50 / ceiling.p50, 2)}, p99 x${fmt(r.p99 / ceiling.p99, 2)}`,
      );
    }
  }
  if (!args.has("--no-fanout")) await coreFanout(results, quick);
}

/**
 * Fan-out: one publisher process to 8 subscriber processes, each subscriber receiving every
 * message; per-subscriber throughput against the same system's one-to-one figure of this run.
 */
async function coreFanout(single: CoreResult[], quick: boolean): Promise<void> {
  const o = { subscribers: 8, messages: quick ? 50_000 : 200_000, rate: 2_500, seconds: quick ? 2 : 4 };
  console.log(
    `\n### Core fan-out: one publisher to ${o.subscribers} subscriber processes; saturation ${fmt(o.messages)} messages ` +
      `(${fmt(o.messages * o.subscribers)} deliveries); latency ${fmt(o.rate)} msg/s (${fmt(o.rate * o.subscribers)} deliveries/s) for ${o.seconds} s\n`,
  );
  const results: FanoutResult[] = [];
  for (const key of ["sfn", "nats", "redis", "rawWs", "rawWsLarge"] as const) {
    try {
      results.push(await runFanout(key, o));
    } catch (err) {
      console.log(`- ${key}: failed: ${(err as Error).message}`);
    }
  }
  console.log(
    "| system | msgs/s per subscriber | deliveries/s | one-to-one msgs/s (this run) | one-to-one / per subscriber | p50 ms | p99 ms | lost | out of order | dup | publisher CPU µs/msg | the same, one-to-one |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    const one = single.find((s) => s.system === r.system);
    const oneRate = one?.throughput ?? Number.NaN;
    console.log(
      `| ${r.system} | ${fmt(r.throughput)} | ${fmt(r.deliveries)} | ${fmt(oneRate)} | x${fmt(oneRate / r.throughput, 2)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.lost} | ${r.outOfOrder} | ${r.duplicates} | ${fmt(r.pubCpu, 2)} | ${fmt(one?.pubCpu ?? Number.NaN, 2)} |`,
    );
  }
  const ours = results.find((r) => r.system === "sfn-channel");
  if (ours) {
    console.log("");
    for (const other of results.filter((r) => r !== ours)) {
      console.log(
        `fan-out, sfn-channel vs ${other.system}: throughput per subscriber x${fmt(ours.throughput / other.throughput, 2)}, ` +
          `p50 x${fmt(ours.p50 / other.p50, 2)}, p99 x${fmt(ours.p99 / other.p99, 2)}`,
      );
    }
  }
  // Whether fan-out keeps each subscriber near its one-to-one rate (one-to-one / per subscriber within 1.5).
  const kept = results.filter((r) => r === ours || isCeiling(r.system));
  if (kept.length > 0) console.log("");
  for (const r of kept) {
    const ratio = (single.find((s) => s.system === r.system)?.throughput ?? Number.NaN) / r.throughput;
    // Encoding once per message shows at the publisher: its CPU per message with 8 subscribers
    // against one (8 times the deliveries), whatever the 2 cores allow the subscribers.
    const cpu = r.pubCpu / (single.find((s) => s.system === r.system)?.pubCpu ?? Number.NaN);
    console.log(
      `${r.system}: one-to-one / fan-out per subscriber x${fmt(ratio, 2)} (within 1.5: ${Number.isNaN(ratio) ? "n/a" : ratio <= 1.5 ? "yes" : "NO"}); ` +
        `publisher CPU per message, fan-out / one-to-one x${fmt(cpu, 2)} for x${r.subscribers} the deliveries`,
    );
  }
}

/** The raw WebSocket ceilings (systems/raw-ws.ts), whatever their framing and decoder. */
function isCeiling(system: string): boolean {
  return system.startsWith("raw ws ceiling");
}

async function ws(): Promise<void> {
  const clients = Number(process.env.WS_CLIENTS ?? 500);
  // Offered loads in deliveries/s: 20 broadcasts/s to 500 clients, and 200/s, where the front end is near saturation.
  const deliveryRates = [10_000, 100_000];
  const o = {
    clients,
    broadcasts: quick ? 300 : 1000,
    broadcastRates: deliveryRates.map((d) => d / clients),
    seconds: quick ? 3 : 5,
  };
  const loads = o.broadcastRates.map((b, i) => `${fmt(b)}/s (${fmt(deliveryRates[i]!)} deliveries/s)`);
  console.log(`\n## WebSocket push: a publisher service to ${o.clients} socket.io-client connections on one front end`);
  console.log(
    `saturation: ${fmt(o.broadcasts)} broadcasts (${fmt(o.broadcasts * o.clients)} deliveries); latency: ${loads.join(" and ")} broadcasts for ${o.seconds} s each\n`,
  );
  const results = await runWs(o);
  const head = o.broadcastRates
    .map((b) => `p50 / p99 ms @${fmt(b)}/s | first client p50 / p99 ms @${fmt(b)}/s | front-end CPU µs/broadcast @${fmt(b)}/s`)
    .join(" | ");
  console.log(`| system | deliveries/s at saturation | front-end CPU µs/broadcast at saturation | ${head} | lost |`);
  console.log(`|---|---:|---:|${o.broadcastRates.map(() => "---:|---:|---:|").join("")}---:|`);
  const pair = (a: number, b: number): string => `${fmt(a, 2)} / ${fmt(b, 2)}`;
  for (const r of results) {
    const cells = r.latency.map((l) => `${pair(l.p50, l.p99)} | ${pair(l.firstP50, l.firstP99)} | ${fmt(l.feCpu)}`).join(" | ");
    console.log(`| ${r.system} | ${fmt(r.deliveriesPerSec)} | ${fmt(r.feCpu)} | ${cells} | ${r.lost} |`);
  }
  const [ours, theirs] = results;
  if (ours && theirs) {
    console.log(`\nsfn-channel vs ${theirs.system} (lower latency ratio is better):`);
    console.log(
      `- throughput x${fmt(ours.deliveriesPerSec / theirs.deliveriesPerSec, 2)}, front-end CPU per broadcast x${fmt(ours.feCpu / theirs.feCpu, 2)}`,
    );
    for (const [i, b] of o.broadcastRates.entries()) {
      const a = ours.latency[i]!;
      const t = theirs.latency[i]!;
      console.log(
        `- @${fmt(b)} broadcasts/s: p50 x${fmt(a.p50 / t.p50, 2)}, p99 x${fmt(a.p99 / t.p99, 2)}, ` +
          `first-client p50 x${fmt(a.firstP50 / t.firstP50, 2)}, p99 x${fmt(a.firstP99 / t.firstP99, 2)}, front-end CPU per broadcast x${fmt(a.feCpu / t.feCpu, 2)}`,
      );
    }
  }
}

/**
 * The Socket.IO hop alone at 1,000 operations/s, no fan-out: CPU per operation of the front end,
 * of the publisher and of the broker (the Redis server, for the Redis path), and their sum.
 */
async function wsHop(): Promise<void> {
  const o = { rate: 1000, seconds: quick ? 2 : 4, rounds: quick ? 2 : 6, clients: Number(process.env.WS_HOP_CLIENTS ?? 0) };
  console.log(`\n## WebSocket push, the hop alone: ${fmt(o.rate)} operations/s, one per event-loop turn, ${o.clients} socket.io clients`);
  console.log(`CPU per operation (µs) by process, ${o.rounds} rounds of ${o.seconds} s per system, alternating; medians\n`);
  const results = await runWsHop(o);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const total = (r: WsHopRound): number => r.frontEnd + r.publisher + r.broker;
  const m = (r: WsHopResult, f: (x: WsHopRound) => number): number => median(r.rounds.map(f));
  console.log("| system | front end | publisher | broker (redis-server) | whole hop | front end per round |");
  console.log("|---|---:|---:|---:|---:|---|");
  for (const r of results) {
    const cells = [m(r, (x) => x.frontEnd), m(r, (x) => x.publisher), m(r, (x) => x.broker), m(r, total)].map((v) => fmt(v, 1));
    console.log(`| ${r.system} | ${cells.join(" | ")} | ${r.rounds.map((x) => fmt(x.frontEnd, 1)).join(", ")} |`);
  }
  const [ours, theirs] = results;
  if (ours && theirs && ours.rounds.length > 0 && theirs.rounds.length > 0) {
    // Rounds alternate, so round k of each system ran under about the same machine load: the
    // median of the per-round ratios is steadier than the ratio of medians.
    const paired = (f: (x: WsHopRound) => number): number =>
      median(ours.rounds.map((x, k) => f(x) / f(theirs.rounds[k] ?? x)).filter((x) => Number.isFinite(x)));
    const wins = ours.rounds.filter((x, k) => x.frontEnd < (theirs.rounds[k]?.frontEnd ?? Number.NaN)).length;
    console.log(
      `\nsfn-channel vs ${theirs.system} (lower is better): front-end CPU per operation x${fmt(
        paired((x) => x.frontEnd),
        2,
      )} ` + `(median of paired rounds; lower in ${wins} of ${ours.rounds.length} rounds), whole hop x${fmt(paired(total), 2)}`,
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
    const rate = r.stalled.length > 0 ? "stalled" : fmt(r.deliveriesPerSec);
    console.log(`| ${r.system} | ${rate} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.lost} | ${fmt(r.bytesPerIdleClient / 1024, 1)} |`);
  }
  // Lost counts only readers whose stream stayed open; what else went wrong is said apart.
  for (const r of results) {
    const issues: string[] = [];
    if (r.stalled.length > 0) issues.push(`stopped waiting (readers and front end idle for 3 s): ${r.stalled.join(", ")}`);
    if (r.late > 0) issues.push(`${fmt(r.late)} deliveries arrived after their phase was given up`);
    if (r.ended > 0)
      issues.push(`${r.ended} streams ended early (${r.slow} disconnected as slow readers), missing ${fmt(r.cutOff)} deliveries`);
    if (r.reordered > 0) issues.push(`${fmt(r.reordered)} events out of order, repeated or unknown`);
    if (issues.length > 0) console.log(`\n${r.system}: ${issues.join("; ")}`);
  }
  const [ours, theirs] = results;
  if (ours && theirs) {
    console.log(
      `\nsfn-channel vs better-sse: throughput x${fmt(ours.deliveriesPerSec / theirs.deliveriesPerSec, 2)}, ` +
        `p50 x${fmt(ours.p50 / theirs.p50, 2)}, p99 x${fmt(ours.p99 / theirs.p99, 2)}, memory per idle client x${fmt(ours.bytesPerIdleClient / theirs.bytesPerIdleClient, 2)}`,
    );
  }
}

async function natsSection(): Promise<void> {
  const one = { subscribers: 1, messages: quick ? 200_000 : 1_000_000, rate: 20_000, seconds: quick ? 2 : 5 };
  const fan = { subscribers: 10, messages: quick ? 20_000 : 100_000, rate: 2_000, seconds: quick ? 2 : 5 };
  // A private nats-server on a free port: the figures do not depend on the machine's server.
  const server = await startNatsServer();
  const saved = process.env.NATS_URL;
  process.env.NATS_URL = server.url;
  const version =
    ["nats-server", "/usr/sbin/nats-server"]
      .map((bin) => {
        try {
          return execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
        } catch {
          return undefined;
        }
      })
      .find(Boolean) ?? "nats-server";
  try {
    console.log(`\n## SFN over NATS: SFN Channel with the nats() router vs raw nats.js vs the mesh`);
    console.log(`a private ${version} on 127.0.0.1:${server.port} (started by the bench); 100-byte payloads; each side its own process\n`);
    const table = (title: string, results: FanoutResult[]): void => {
      console.log(`${title}\n`);
      console.log("| system | msgs/s at saturation | deliveries/s | p50 ms | p99 ms | lost | out of order | dup | publisher max RSS MB |");
      console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
      for (const r of results) {
        console.log(
          `| ${r.system} | ${fmt(r.throughput)} | ${fmt(r.deliveries)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.lost} | ${r.outOfOrder} | ${r.duplicates} | ${fmt(r.pubRssMb)} |`,
        );
      }
      const ours = results.find((r) => r.system === "sfn-channel over NATS");
      const raw = results.find((r) => r.system.startsWith("raw nats.js"));
      const mesh = results.find((r) => r.system === "sfn-channel");
      console.log("");
      if (ours && raw) {
        const t = ours.throughput / raw.throughput;
        const p99 = ours.p99 / raw.p99;
        console.log(
          `sfn over NATS vs raw nats.js: throughput x${fmt(t, 2)} (target >= 0.8: ${t >= 0.8 ? "met" : "MISSED"}), ` +
            `p50 x${fmt(ours.p50 / raw.p50, 2)}, p99 x${fmt(p99, 2)} (target <= 1.5: ${p99 <= 1.5 ? "met" : "MISSED"})`,
        );
      }
      if (ours && mesh) {
        console.log(
          `sfn over NATS vs the mesh: throughput x${fmt(ours.throughput / mesh.throughput, 2)}, ` +
            `p50 x${fmt(ours.p50 / mesh.p50, 2)}, p99 x${fmt(ours.p99 / mesh.p99, 2)} (lower latency ratio is better)`,
        );
      }
      console.log("");
    };
    const run = async (o: typeof one): Promise<FanoutResult[]> => {
      const results: FanoutResult[] = [];
      for (const key of ["natsJs", "sfnNats", "sfn"] as const) {
        try {
          results.push(await runFanout(key, o));
        } catch (err) {
          console.log(`- ${key}: failed: ${(err as Error).message}`);
        }
      }
      return results;
    };
    table(
      `### One publisher, one subscriber: saturation ${fmt(one.messages)} messages; latency ${fmt(one.rate)} msg/s for ${one.seconds} s`,
      await run(one),
    );
    table(
      `### Fan-out to ${fan.subscribers} subscriber processes: saturation ${fmt(fan.messages)} messages (${fmt(fan.messages * fan.subscribers)} deliveries); ` +
        `latency ${fmt(fan.rate)} msg/s (${fmt(fan.rate * fan.subscribers)} deliveries/s) for ${fan.seconds} s`,
      await run(fan),
    );
  } finally {
    if (saved === undefined) delete process.env.NATS_URL;
    else process.env.NATS_URL = saved;
    await server.stop();
  }
}

const only = [...args].find((a) => a.startsWith("--only="))?.slice("--only=".length);

console.log(`# SFN Channel benchmarks`);
console.log(
  `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
);
if (!only || only === "core") await core();
if (!only || only === "ws") {
  await ws();
  await wsHop();
}
if (only === "ws-hop") await wsHop();
if (!only || only === "sse") await sse();
if (!only || only === "nats") await natsSection();
if (!only || only === "durable") await durableSection(quick);
