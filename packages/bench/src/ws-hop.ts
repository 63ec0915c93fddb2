import { settleClients as settle } from "./pace.js";
import { profileArgs, startWorker } from "./process.js";

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
  const fe = await startWorker("./ws-worker.ts", ["fe"], profileArgs("ws-fe"));
  const clients = await startWorker("./ws-worker.ts", ["clients", String(fe.ready.port), String(o.clients)]);
  const systems = [
    { system: "sfn-channel (message.ws.emit)", pub: await startWorker("./ws-worker.ts", ["pub-sfn", String(fe.ready.url)]) },
    { system: "@socket.io/redis-emitter + redis-adapter", pub: await startWorker("./ws-worker.ts", ["pub-emitter"]) },
  ];
  const cpu = async (): Promise<number> => (await fe.request<{ type: string; micros: number }>({ cmd: "cpu" }, "cpu")).micros;
  const only = process.env.WS_HOP_ONLY;
  const results: WsHopResult[] = systems.map((s) => ({ system: s.system, micros: [] }));
  try {
    for (let round = -1; round < o.rounds; round++) {
      for (const [i, s] of systems.entries()) {
        // WS_HOP_ONLY=sfn|redis: one system alone (for profiles of the front end).
        if (only && !s.system.toLowerCase().includes(only)) continue;
        await clients.request({ cmd: "reset" }, "reset");
        const before = await cpu();
        await s.pub.request({ cmd: "rate", rate: o.rate, seconds: o.seconds }, "done");
        await settle(clients, Math.round(o.rate * o.seconds) * o.clients);
        const per = ((await cpu()) - before) / Math.round(o.rate * o.seconds);
        if (round >= 0) results[i]?.micros.push(per);
      }
    }
  } finally {
    for (const s of systems) await s.pub.stop();
    await clients.stop();
    await fe.stop();
  }
  return results;
}
