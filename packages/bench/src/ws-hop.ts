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

/** Front-end CPU per operation, one entry per round. */
export interface WsHopResult {
  system: string;
  micros: number[];
}

/**
 * The hop alone: the front end's CPU time per operation (`process.cpuUsage()`) while one
 * publisher per system sends operations at a low, fixed rate, so that each arrives on its own
 * (one link frame for SFN, one Redis message for the emitter) and the fixed costs per operation
 * show: receiving, decoding, acknowledging, handing to Socket.IO. Rounds alternate between the
 * systems, after one unrecorded round of each.
 */
export async function runWsHop(o: WsHopOptions): Promise<WsHopResult[]> {
  const { clients, systems, feCpu: cpu, stop } = await startWsProcesses(o.clients);
  const only = process.env.WS_HOP_ONLY;
  const results: WsHopResult[] = systems.map((s) => ({ system: s.name, micros: [] }));
  try {
    for (let round = -1; round < o.rounds; round++) {
      for (const [i, s] of systems.entries()) {
        // WS_HOP_ONLY=sfn|redis: one system alone (for profiles of the front end).
        if (only && !s.name.toLowerCase().includes(only)) continue;
        await clients.request({ cmd: "reset" }, "reset");
        const before = await cpu();
        await s.pub.request({ cmd: "rate", rate: o.rate, seconds: o.seconds }, "done");
        await settle(clients, Math.round(o.rate * o.seconds) * o.clients);
        const per = ((await cpu()) - before) / Math.round(o.rate * o.seconds);
        if (round >= 0) results[i]?.micros.push(per);
      }
    }
  } finally {
    await stop();
  }
  return results;
}
