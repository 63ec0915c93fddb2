import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A benchmark worker process and a way to wait for its IPC answers. */
export interface Worker {
  child: ChildProcess;
  request<T extends { type: string }>(message: object, type: string): Promise<T>;
  next<T extends { type: string }>(type: string): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Node flags that CPU-profile the worker playing `role` when `BENCH_PROFILE` names it
 * (comma-separated roles, e.g. `BENCH_PROFILE=ws-fe`); profiles go to `BENCH_PROFILE_DIR`
 * (default `./profiles`), one `.cpuprofile` per thread (tsx's loader has one of its own), written
 * when the process exits.
 */
export function profileArgs(role: string): string[] {
  const roles = (process.env.BENCH_PROFILE ?? "").split(",");
  if (!roles.includes(role)) return [];
  const interval = process.env.BENCH_PROFILE_INTERVAL ? [`--cpu-prof-interval=${process.env.BENCH_PROFILE_INTERVAL}`] : [];
  return ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR ?? "profiles"}/${role}`, ...interval];
}

/** Starts `file` (TypeScript, through tsx) with `args`; resolves after its `ready` message. */
export async function startWorker(
  file: string,
  args: string[],
  nodeArgs: string[] = [],
): Promise<Worker & { ready: Record<string, unknown> }> {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), args, {
    execArgv: ["--import", "tsx", ...nodeArgs, ...(process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean)],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = <T extends { type: string }>(type: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: T): void => {
        if (m?.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(m);
      };
      const onExit = (code: number | null): void => reject(new Error(`${file} ${args.join(" ")} exited (${code}) before "${type}"`));
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const ready = await next<{ type: string }>("ready");
  return {
    child,
    ready: ready as unknown as Record<string, unknown>,
    next,
    request: (message, type) => {
      const answer = next(type);
      child.send(message);
      return answer as never;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.send({ cmd: "close" });
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
