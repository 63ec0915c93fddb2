// Runs every package's tests one package at a time (the suites open real sockets and
// processes; 2 cores are shared), then prints one closing line with the totals.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const results = join(root, ".jest-results");
rmSync(results, { recursive: true, force: true });

const run = spawnSync("pnpm", ["exec", "turbo", "run", "test", "--concurrency=1", "--continue", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1", FORCE_COLOR: process.env.FORCE_COLOR ?? "0" },
});

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
