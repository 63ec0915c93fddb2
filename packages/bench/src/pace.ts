import { nowMicros } from "./payload.js";

/**
 * Publishes `n` messages as fast as allowed: `emit(i)` returning false means "wait for
 * `drain()`". Yields to I/O every `yieldEvery` messages. Resolves with the start time (µs).
 */
export async function flood(
  n: number,
  emit: (i: number) => boolean,
  drain: () => Promise<void>,
  yieldEvery: number,
  onYield?: (i: number) => void,
): Promise<number> {
  const startAt = nowMicros();
  for (let i = 0; i < n; ) {
    if (!emit(i++)) await drain();
    if (i % yieldEvery === 0) {
      onYield?.(i);
      await new Promise((r) => setImmediate(r));
    }
  }
  return startAt;
}

/**
 * Publishes at a fixed `rate` per second for `seconds`, in 1 ms ticks, honouring backpressure
 * (`emit` false → `drain()`). Resolves with the start time (µs).
 */
export async function paced(
  rate: number,
  seconds: number,
  emit: (i: number) => boolean,
  drain: () => Promise<void>,
  onTick?: () => void,
): Promise<number> {
  const total = Math.round(rate * seconds);
  const startAt = nowMicros();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowMicros() - startAt) * rate) / 1e6));
    while (sent < due) if (!emit(sent++)) await drain();
    onTick?.();
    await new Promise((r) => setTimeout(r, 1));
  }
  return startAt;
}

/**
 * Asks for a report until `received(report)` reaches `n` or stops moving for `idleMs`;
 * resolves with `final()` (a last, possibly fuller, report) at that point.
 *
 * `progress`, if given, is asked before giving up: a snapshot of the sending side (compared as
 * JSON). If it changed since it was last asked, the wait goes on: a server busy with a burst for
 * longer than `idleMs` (under machine load) sends nothing meanwhile, and that is not a loss.
 */
export async function settle<R>(
  ask: () => Promise<R>,
  received: (r: R) => number,
  n: number,
  final: () => Promise<R> = ask,
  idleMs = 3000,
  progress?: () => Promise<unknown>,
): Promise<R> {
  let last = -1;
  let since = Date.now();
  let mark: string | undefined;
  for (;;) {
    const r = await ask();
    const got = received(r);
    if (got >= n) return final === ask ? r : final();
    if (got !== last) {
      last = got;
      since = Date.now();
    } else if (Date.now() - since > idleMs) {
      const now = progress ? JSON.stringify(await progress()) : mark;
      if (now === mark) return final === ask ? r : final();
      mark = now;
      since = Date.now();
    }
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** A clients process's report: deliveries so far, when the last arrived, and latencies if asked. */
export interface ClientsReport {
  type: "report";
  received: number;
  lastAt: number;
  latencies: number[];
  firsts?: number[];
}

/**
 * Waits until a clients process has `n` deliveries (or stalls: see `progress` in {@link settle});
 * the final report carries latencies if asked.
 */
export function settleClients(
  clients: { request<T extends { type: string }>(message: object, type: string): Promise<T> },
  n: number,
  withLatencies = false,
  progress?: () => Promise<unknown>,
): Promise<ClientsReport> {
  const ask = (latency: boolean) => () => clients.request<ClientsReport>({ cmd: "report", latency }, "report");
  return settle(ask(false), (r) => r.received, n, withLatencies ? ask(true) : undefined, 3000, progress);
}
