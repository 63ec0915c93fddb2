// `pnpm dev` (until the demo apps exist): starts both services; Ctrl-C stops both.
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

// Both services need the same secret: SFN_SECRET if set, else a fresh one for this run.
const env = { ...process.env, SFN_SECRET: process.env.SFN_SECRET || randomBytes(32).toString("base64url") };
const start = (file: string): ChildProcess =>
  fork(fileURLToPath(new URL(file, import.meta.url)), { execArgv: ["--import", "tsx"], stdio: "inherit", env });

const children = [start("./rpc-server-1.ts"), start("./rpc-server-2.ts")];
console.log("seed example running: rpc-server-2 prints rpc-server-1's greetings. Ctrl-C stops both.");

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
for (const c of children) c.on("exit", () => children.every((x) => x.exitCode !== null || x.signalCode !== null) && process.exit(0));
