import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";

/** A service running in its own Node process, talking to the test over IPC. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Sends a command to the child. */
  send(message: unknown): void;
  /** Resolves with the next IPC message satisfying `predicate`. */
  next<T = Record<string, unknown>>(predicate: (m: T) => boolean, ms?: number): Promise<T>;
  /** Every IPC message received so far. */
  readonly messages: unknown[];
  /** Kills the process (SIGKILL by default) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a TypeScript file in a child Node process (through tsx), passing `args`.
 * Resolves once the child sends `{ type: "ready" }` over IPC.
 */
export async function spawnService(file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
  const child = fork(file, args, {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const messages: unknown[] = [];
  const waiters = new Set<{ predicate: (m: never) => boolean; resolve: (m: never) => void }>();
  child.on("message", (m) => {
    messages.push(m);
    for (const w of waiters) {
      if (w.predicate(m as never)) {
        waiters.delete(w);
        w.resolve(m as never);
      }
    }
  });
  const exited = once(child, "exit");
  const service: ServiceProcess = {
    child,
    messages,
    send: (m) => child.send(m as never),
    next: <T>(predicate: (m: T) => boolean, ms = 30000) =>
      new Promise<T>((resolve, reject) => {
        const found = messages.find((m) => predicate(m as T));
        if (found !== undefined) return resolve(found as T);
        const w = { predicate: predicate as (m: never) => boolean, resolve: resolve as (m: never) => void };
        waiters.add(w);
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`child ${file} sent no matching message within ${ms} ms`));
        }, ms);
        timer.unref();
        void exited.then(() => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`child ${file} exited before sending a matching message`));
        });
      }),
    kill: async (signal = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
    },
  };
  await service.next((m: { type?: string }) => m?.type === "ready");
  return service;
}
