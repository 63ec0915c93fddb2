import { Redis } from "ioredis";
import { settleClients as settle } from "./pace.js";
import { startWsProcesses } from "./ws-bench.js";

/** Options of {@link runWsHop}. */
export interface WsHopOptions {
  /** Operations per second, one per event-loop turn of the publisher (so one per link frame or Redis read). */
  rate: number;
  /** Seconds per round. */
  seconds: number;
  /** Rounds per system, alternating. */
  rounds: number;
  /** socket.io clients on the front end (0: the hop alone, Socket.IO's fan-out reaches nobody). */
  clients: number;
}

/** CPU per operation (µs) in one round, by process. */
export interface WsHopRound {
  /** The front end (Socket.IO server + SFN channel + Redis adapter). */
  frontEnd: number;
  /** This system's publisher process. */
  publisher: number;
  /** The Redis server (`INFO cpu`), whichever system runs: the broker of the Redis path. */
  broker: number;
}

/** CPU per operation, one entry per round. */
export interface WsHopResult {
  system: string;
  rounds: WsHopRound[];
}

/** The Redis server's CPU time so far (µs), from `INFO cpu`. */
async function brokerCpu(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(info)?.[1] ?? Number.NaN);
  return (field("used_cpu_sys") + field("used_cpu_user")) * 1e6;
}

/**
 * The hop alone: the CPU time per operation (`process.cpuUsage()`, and the Redis server's
 * `INFO cpu`) of every process an operation passes through, while one publisher per system sends
 * operations at a low, fixed rate, so that each arrives on its own (one link frame for SFN, one
 * Redis message for the emitter) and the fixed costs per operation show: sending; for the Redis
 * path the broker's read, fan-out and write; at the front end receiving, decoding, acknowledging,
 * handing to Socket.IO. Rounds alternate between the systems, after one unrecorded round of each.
 */
export async function runWsHop(o: WsHopOptions): Promise<WsHopResult[]> {
  const { clients, systems, feCpu, stop } = await startWsProcesses(o.clients);
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const only = process.env.WS_HOP_ONLY;
  const results: WsHopResult[] = systems.map((s) => ({ system: s.name, rounds: [] }));
  const cpu = async (pub: (typeof systems)[number]["pub"]): Promise<WsHopRound> => ({
    frontEnd: await feCpu(),
    publisher: (await pub.request<{ type: string; micros: number }>({ cmd: "cpu" }, "cpu")).micros,
    broker: await brokerCpu(redis),
  });
  try {
    for (let round = -1; round < o.rounds; round++) {
      for (const [i, s] of systems.entries()) {
        // WS_HOP_ONLY=sfn|redis: one system alone (for profiles of the front end).
        if (only && !s.name.toLowerCase().includes(only)) continue;
        await clients.request({ cmd: "reset" }, "reset");
        const before = await cpu(s.pub);
        await s.pub.request({ cmd: "rate", rate: o.rate, seconds: o.seconds }, "done");
        await settle(clients, Math.round(o.rate * o.seconds) * o.clients);
        const after = await cpu(s.pub);
        const ops = Math.round(o.rate * o.seconds);
        if (round >= 0)
          results[i]?.rounds.push({
            frontEnd: (after.frontEnd - before.frontEnd) / ops,
            publisher: (after.publisher - before.publisher) / ops,
            broker: (after.broker - before.broker) / ops,
          });
      }
    }
  } finally {
    redis.disconnect();
    await stop();
  }
  return results;
}
