import { percentile } from "./payload.js";
import { settleClients as settle } from "./pace.js";
import { profileArgs, startWorker } from "./process.js";

/** Latency figures at one offered load. */
export interface WsLatency {
  p50: number;
  p99: number;
  /** Latency to the first client of each broadcast (the hop without the fan-out). */
  firstP50: number;
  firstP99: number;
  /** Front end's CPU time per broadcast (µs): receiving it and Socket.IO's fan-out. */
  feCpu: number;
}

/** Figures for one way of pushing to browsers. */
export interface WsResult {
  system: string;
  deliveriesPerSec: number;
  /** Front end's CPU time per broadcast at saturation (µs). */
  feCpu: number;
  /** One entry per offered load of {@link WsBenchOptions.broadcastRates}, in the same order. */
  latency: WsLatency[];
  lost: number;
}

export interface WsBenchOptions {
  clients: number;
  broadcasts: number;
  /** Offered loads for the latency rounds, in broadcasts per second. */
  broadcastRates: number[];
  /** Seconds each system is measured at each load (split over the rounds). */
  seconds: number;
}

/**
 * Saturation and fixed-rate latency for SFN and for the Redis emitter, against the same front
 * end and the same clients. Both publishers warm up first; latency is measured at each load in
 * eight rounds that alternate between the systems (a system measured later profits from a warmer
 * client process, by as much as the difference being measured), after one unrecorded round of
 * each at that load.
 */
/**
 * The processes of the WebSocket benchmarks: the front end (Socket.IO + Redis adapter + an SFN
 * channel serving it), `clients` socket.io clients, and one publisher per system; `feCpu` is the
 * front end's CPU time so far (µs).
 */
export async function startWsProcesses(clientCount: number) {
  const fe = await startWorker("./ws-worker.ts", ["fe"], profileArgs("ws-fe"));
  const clients = await startWorker("./ws-worker.ts", ["clients", String(fe.ready.port), String(clientCount)]);
  const systems = [
    { name: "sfn-channel (message.ws.emit)", pub: await startWorker("./ws-worker.ts", ["pub-sfn", String(fe.ready.url)]) },
    { name: "@socket.io/redis-emitter + redis-adapter", pub: await startWorker("./ws-worker.ts", ["pub-emitter"]) },
  ];
  const feCpu = async (): Promise<number> => (await fe.request<{ type: string; micros: number }>({ cmd: "cpu" }, "cpu")).micros;
  const stop = async (): Promise<void> => {
    for (const s of systems) await s.pub.stop();
    await clients.stop();
    await fe.stop();
  };
  return { fe, clients, systems, feCpu, stop };
}

export async function runWs(o: WsBenchOptions): Promise<WsResult[]> {
  const { clients, systems, feCpu, stop } = await startWsProcesses(o.clients);
  const stats = systems.map(() => ({
    throughput: 0,
    feCpu: 0,
    latency: o.broadcastRates.map(() => ({ all: [] as number[], firsts: [] as number[], cpu: 0, broadcasts: 0 })),
    lost: 0,
  }));
  try {
    for (const s of systems) {
      await clients.request({ cmd: "reset" }, "reset");
      await s.pub.request({ cmd: "saturate", n: 300 }, "done");
      await settle(clients, 300 * o.clients);
    }
    for (const [i, s] of systems.entries()) {
      await clients.request({ cmd: "reset" }, "reset");
      const cpu0 = await feCpu();
      const sat = await s.pub.request<{ type: string; startAt: number }>({ cmd: "saturate", n: o.broadcasts }, "done");
      const r = await settle(clients, o.broadcasts * o.clients);
      stats[i]!.feCpu = ((await feCpu()) - cpu0) / o.broadcasts;
      stats[i]!.throughput = r.received / ((r.lastAt - sat.startAt) / 1e6);
      stats[i]!.lost += o.broadcasts * o.clients - r.received;
    }
    const rounds = process.env.WS_ROUNDS ? process.env.WS_ROUNDS.split(",").map(Number) : [0, 1, 0, 1, 1, 0, 1, 0];
    const seconds = (o.seconds * 2) / rounds.length;
    for (const [l, rate] of o.broadcastRates.entries()) {
      const total = Math.round(rate * seconds);
      // One unrecorded round per system at each new load: the first round after a change of load
      // took the transition (the clients process and the front end settling to the new rate),
      // and the first round is always the same system's.
      for (const i of [0, 1]) {
        await clients.request({ cmd: "reset" }, "reset");
        await systems[i]!.pub.request({ cmd: "rate", rate, seconds: seconds / 2 }, "done");
        await settle(clients, Math.round((rate * seconds) / 2) * o.clients);
      }
      for (const i of rounds) {
        await clients.request({ cmd: "reset", latency: true }, "reset");
        const cpu0 = await feCpu();
        await systems[i]!.pub.request({ cmd: "rate", rate, seconds }, "done");
        const r = await settle(clients, total * o.clients, true);
        const into = stats[i]!.latency[l]!;
        into.cpu += (await feCpu()) - cpu0;
        into.broadcasts += total;
        if (process.env.WS_ROUNDS_VERBOSE)
          console.error(
            `round ${systems[i]!.name} @${rate}/s: p50 ${(percentile(r.latencies, 50) / 1000).toFixed(2)} ms, p99 ${(percentile(r.latencies, 99) / 1000).toFixed(2)} ms, max ${(percentile(r.latencies, 100) / 1000).toFixed(2)} ms`,
          );
        // A loop, not push(...xs): a round at 200 broadcasts/s has more latencies than a call takes arguments.
        for (const x of r.latencies) into.all.push(x);
        for (const x of r.firsts ?? []) into.firsts.push(x);
        stats[i]!.lost += total * o.clients - r.received;
      }
    }
  } finally {
    await stop();
  }
  return systems.map((s, i) => ({
    system: s.name,
    deliveriesPerSec: stats[i]!.throughput,
    feCpu: stats[i]!.feCpu,
    latency: stats[i]!.latency.map((l) => ({
      p50: percentile(l.all, 50) / 1000,
      p99: percentile(l.all, 99) / 1000,
      firstP50: percentile(l.firsts, 50) / 1000,
      firstP99: percentile(l.firsts, 99) / 1000,
      feCpu: l.cpu / l.broadcasts,
    })),
    lost: stats[i]!.lost,
  }));
}
