// Runs every package's tests one package at a time (the suites open real sockets and
// processes; 2 cores are shared), then prints one closing line with the totals.
//
// The Socket.IO cluster-adapter tests need a Redis: REDIS_URL if set, else one already on
// 127.0.0.1:6379, else a private redis-server started here on a free port for this run.
// The demo's browser test needs Debian's Chromium: installed here if missing (root + apt).
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { ensureChromium } from "./ensure-chromium.mjs";

const root = new URL("..", import.meta.url).pathname;
const results = join(root, ".jest-results");
rmSync(results, { recursive: true, force: true });

const reachable = (port, host = "127.0.0.1") =>
  new Promise((resolve) => {
    const s = connect(port, host);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

const freePort = () =>
  new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

let privateRedis;
async function ensureRedis() {
  if (process.env.REDIS_URL) return;
  if (await reachable(6379)) {
    process.env.REDIS_URL = "redis://127.0.0.1:6379";
    return;
  }
  if (spawnSync("redis-server", ["--version"]).status !== 0) {
    console.error(
      "Redis is needed by the Socket.IO cluster-adapter tests: set REDIS_URL, run one on 127.0.0.1:6379, or install redis-server.",
    );
    return;
  }
  const port = await freePort();
  privateRedis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  for (let i = 0; i < 100 && !(await reachable(port)); i++) await new Promise((r) => setTimeout(r, 50));
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  console.log(`started a private redis-server for the tests on port ${port}`);
}

// The channel-nats tests start private nats-servers on free ports (never 4222): they need the
// binary only. Debian's `nats-server` package is installed here if missing (root + apt).
function ensureNatsServer() {
  if (spawnSync("nats-server", ["--version"]).status === 0 || spawnSync("/usr/sbin/nats-server", ["--version"]).status === 0) return;
  if (process.getuid?.() !== 0 || spawnSync("apt-get", ["--version"]).status !== 0) {
    console.error("nats-server is needed by the channel-nats tests: install it (Debian: apt-get install nats-server).");
    return;
  }
  console.log("installing Debian's nats-server for the channel-nats tests (apt-get)...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], { stdio: "inherit", env });
}

await ensureRedis();
ensureChromium();
ensureNatsServer();
const run = spawnSync("pnpm", ["exec", "turbo", "run", "test", "--concurrency=1", "--continue", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1", FORCE_COLOR: process.env.FORCE_COLOR ?? "0" },
});
privateRedis?.kill();

let passed = 0;
let failed = 0;
let skipped = 0;
let files = [];
try {
  files = readdirSync(results).filter((f) => f.endsWith(".json"));
} catch {}
for (const f of files) {
  const r = JSON.parse(readFileSync(join(results, f), "utf8"));
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  console.log(`  ${r.package}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
