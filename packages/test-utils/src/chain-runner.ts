import { spawnService, type ServiceProcess } from "./service-process.js";

/** What a chain returned: its (awaited) value, or the error it threw. */
export interface ChainResult {
  value?: unknown;
  error?: { name?: string; code?: string; message?: string; [detail: string]: unknown };
}

/** One step of an operator chain: a method call with its arguments, or a getter (no arguments). */
export type ChainStep = [string, ...unknown[]];

/**
 * In a child service: runs operator chains sent over IPC against `root`, e.g.
 * `[["via", "web-1"], ["to", "room"], ["emit", "ev", 1]]`, and answers with the result.
 * `revive` rebuilds arguments that JSON IPC cannot carry (buffers).
 */
export function serveChains(root: () => unknown, revive: (v: unknown) => unknown = (v) => v, details: string[] = []): void {
  process.on("message", async (m: { cmd?: string; id?: number; chain?: ChainStep[] }) => {
    if (m.cmd !== "run" || !m.chain) return;
    try {
      let cur: unknown = root();
      for (const [name, ...args] of m.chain) {
        const v = (cur as Record<string, unknown>)[name];
        cur = typeof v === "function" ? (v as (...a: unknown[]) => unknown).apply(cur, args.map(revive)) : v;
      }
      process.send?.({ type: "result", id: m.id, value: await cur });
    } catch (e) {
      const err = e as Record<string, unknown>;
      const error: Record<string, unknown> = { name: err.name, code: err.code, message: err.message };
      for (const d of details) error[d] = err[d];
      process.send?.({ type: "result", id: m.id, error });
    }
  });
}

/** The test's side: a child service that runs operator chains (see {@link serveChains}). */
export class ChainRunner {
  private nextId = 0;
  private constructor(readonly proc: ServiceProcess) {}

  static async start(fixture: string, args: string[]): Promise<ChainRunner> {
    return new ChainRunner(await spawnService(fixture, args));
  }

  /** Runs a chain in the child; resolves with its result or error. */
  async run(...chain: ChainStep[]): Promise<ChainResult> {
    const id = ++this.nextId;
    this.proc.send({ cmd: "run", id, chain });
    return this.proc.next<ChainResult & { type?: string; id?: number }>((m) => m.type === "result" && m.id === id);
  }

  /** Every IPC message of a type the child sent so far. */
  messages(type: string): Record<string, unknown>[] {
    return this.proc.messages.filter((m) => (m as { type?: string }).type === type) as Record<string, unknown>[];
  }

  stop(): Promise<void> {
    return this.proc.kill();
  }
}
