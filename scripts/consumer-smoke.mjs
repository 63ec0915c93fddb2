// Installs the packed packages the way a user does and uses them the way the READMEs do:
//
// 1. `pnpm pack` the published packages (exactly what `changeset publish` uploads);
// 2. in an empty temp folder, plain `npm install` of core + sse: no socket.io may arrive;
// 3. then `npm install` of ws and nats as well (socket.io is ws's optional peer: still none),
//    with TypeScript and @types/node from the registry;
// 4. run an ESM and a CJS program: two channels on 127.0.0.1 port 0 with a strong secret,
//    a publish/subscribe across the link, and an error from one build recognised by the other
//    (the dual-package hazard);
// 5. type-check a `.mts` and a `.cts` file under `module: nodenext` with `skipLibCheck: false`,
//    including a publish-only use of @sfn/channel-ws with socket.io not installed, and the same
//    code under `moduleResolution: bundler`.
//
// Needs the packages built (`pnpm build`) and the npm registry. Cleans up its temp folder; caches
// nothing outside it but npm's own cache. Usage: node scripts/consumer-smoke.mjs
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const PACKAGES = { core: "packages/channel-core", ws: "packages/channel-ws", sse: "packages/channel-sse", nats: "packages/channel-nats" };
const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const TS_VERSION = rootPkg.devDependencies.typescript;
const TYPES_NODE = "@types/node@20";
const started = Date.now();

let failures = 0;
const ok = (msg) => console.log(`  ok   ${msg}`);
const fail = (msg) => {
  failures++;
  console.log(`  FAIL ${msg}`);
};

// A user's shell, not pnpm's: drop the npm_* variables a `pnpm run` parent would pass down.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
env.FORCE_COLOR = "0";
const run = (cmd, args, cwd, timeout = 300_000) => spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout });
const npm = (args, cwd) => run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], cwd);
const shown = (r) => `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim();

const tmp = mkdtempSync(join(tmpdir(), "sfn-consumer-"));
const app = join(tmp, "app");
try {
  const tarballs = {};
  console.log("pack");
  for (const [key, dir] of Object.entries(PACKAGES)) {
    if (!existsSync(join(root, dir, "dist"))) throw new Error(`${dir} is not built: run \`pnpm build\` first`);
    const r = run("pnpm", ["pack", "--pack-destination", tmp, "--json"], join(root, dir));
    if (r.status !== 0) throw new Error(`pnpm pack in ${dir} failed:\n${shown(r)}`);
    tarballs[key] = JSON.parse(r.stdout).filename;
    ok(`${dir} -> ${tarballs[key].slice(tmp.length + 1)}`);
  }

  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "sfn-consumer", private: true, version: "1.0.0" }, null, 2));
  const installed = (name) => existsSync(join(app, "node_modules", name, "package.json"));

  console.log("npm install @sfn/channel-core @sfn/channel-sse");
  let r = npm(["install", tarballs.core, tarballs.sse], app);
  if (r.status !== 0) throw new Error(`npm install failed:\n${shown(r)}`);
  ok("installed with plain npm");
  const noSocketIo = () => ["socket.io", "engine.io", "socket.io-adapter", "socket.io-parser"].filter(installed);
  noSocketIo().length === 0 ? ok("core + sse pull no socket.io") : fail(`core + sse pulled ${noSocketIo().join(", ")}`);

  console.log("npm install @sfn/channel-ws (socket.io is an optional peer), @sfn/channel-nats, typescript, @types/node");
  r = npm(["install", tarballs.ws, tarballs.nats, `typescript@${TS_VERSION}`, TYPES_NODE], app);
  if (r.status !== 0) throw new Error(`npm install failed:\n${shown(r)}`);
  noSocketIo().length === 0 ? ok("core + sse + ws still pull no socket.io") : fail(`ws pulled ${noSocketIo().join(", ")}`);

  // ---- programs, as in the READMEs (with a port of 0 and a generated secret).
  const program = (importLines) => `${importLines}

const secret = randomBytes(32).toString("base64url");
const guard = setTimeout(() => {
  console.error("timed out");
  process.exit(1);
}, 20000);

async function main() {
  const one = withSse(new MessageChannel({ id: "rpc-server-1", secret }));
  const { url } = await one.listen({ port: 0, host: "127.0.0.1" });

  const message = withWs(new MessageChannel({ id: "rpc-server-2", secret }));
  const received = new Promise((resolve) => message.subscribe("greeting", (msg, meta) => resolve(msg + " from " + meta.from)));
  await message.connect(url);

  one.publish("greeting", "Hello, World!");
  const line = await received;
  if (line !== "Hello, World! from rpc-server-1") throw new Error("unexpected: " + line);
  console.log(line);

  // Publish-only use of the adapters: no front end is linked, no socket.io is installed.
  message.ws.emit("greeting", "Hello, World!");
  one.sse.send("Hello, World!");

  // The NATS router loads (it is not started: that would dial a broker).
  if (typeof nats !== "function") throw new Error("@sfn/channel-nats exports no nats()");

  // An error of the other build (ESM meets CJS in one process) is still a ChannelError.
  const other = await otherBuild();
  const foreign = new other.InvalidTopicError("from the other build");
  if (!isChannelError(foreign)) throw new Error("isChannelError is false for an error of the other build");
  if (!(foreign instanceof ChannelError)) throw new Error("instanceof ChannelError is false for an error of the other build");
  if (!other.isChannelError(new InvalidTopicError("x"))) throw new Error("the other build's isChannelError is false for this build's error");
  console.log("dual package: ok");

  await Promise.all([message.close(), one.close()]);
  clearTimeout(guard);
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;
  writeFileSync(
    join(app, "esm.mjs"),
    program(`import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { ChannelError, InvalidTopicError, MessageChannel, isChannelError } from "@sfn/channel-core";
import { withWs } from "@sfn/channel-ws";
import { withSse } from "@sfn/channel-sse";
import { nats } from "@sfn/channel-nats";
const otherBuild = async () => createRequire(import.meta.url)("@sfn/channel-core");`),
  );
  writeFileSync(
    join(app, "cjs.cjs"),
    program(`const { randomBytes } = require("node:crypto");
const { ChannelError, InvalidTopicError, MessageChannel, isChannelError } = require("@sfn/channel-core");
const { withWs } = require("@sfn/channel-ws");
const { withSse } = require("@sfn/channel-sse");
const { nats } = require("@sfn/channel-nats");
const otherBuild = () => import("@sfn/channel-core");`),
  );
  console.log("programs");
  for (const file of ["esm.mjs", "cjs.cjs"]) {
    r = run(process.execPath, [file], app, 30_000);
    const out = shown(r);
    r.status === 0 && out.includes("Hello, World! from rpc-server-1") && out.includes("dual package: ok")
      ? ok(`node ${file}: publish/subscribe across a link, both builds agree on ChannelError`)
      : fail(`node ${file} (exit ${r.status}):\n${out}`);
  }

  // ---- types, as a TypeScript user compiles them.
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          types: ["node"],
        },
        files: ["check.mts", "check.cts"],
      },
      null,
      2,
    ),
  );
  const typed = `import { randomBytes } from "node:crypto";
import { ChannelError, MessageChannel, isChannelError } from "@sfn/channel-core";
import { withWs } from "@sfn/channel-ws";
import { withSse } from "@sfn/channel-sse";
import { nats } from "@sfn/channel-nats";

interface Topics {
  greeting: string;
  "orders.created": { id: number };
}
const secret = randomBytes(32).toString("base64url");
const typed = new MessageChannel<Topics>({ id: "shop", secret });
typed.publish("greeting", "hi");
// @ts-expect-error: a typed topic refuses a payload of the wrong type
typed.publish("greeting", 42);
typed.subscribe("orders.*", (order) => order.id.toFixed());

// A backend that only publishes to browsers: socket.io is not installed here.
const message = withWs(new MessageChannel({ id: "rpc-server-1", secret }));
message.ws.emit("greeting", "Hello, World!");
message.ws.via("web-server-1").to("SYGJBR5az95_37HhAAAB").emit("greeting", "Hello, World!");
const sse = withSse(new MessageChannel({ id: "rpc-server-2", secret }));
sse.sse.send("Hello, World!");
sse.sse.via("web-server-1").to("PbiJhda21").emit("greeting", "Hello, World!");
sse.sse.via("web-server-1").to("PbiJhda21").close();

// Over NATS: only the construction changes (never run here: it would dial the broker).
export function overNats(): MessageChannel<Topics> {
  const overBroker = new MessageChannel<Topics>({ id: "shop", router: nats({ servers: "nats://10.0.0.9:4222", namespace: "prod" }) });
  overBroker.publish("greeting", "hi");
  return overBroker;
}

export function codeOf(error: unknown): string | undefined {
  if (isChannelError(error)) return error.code;
  return error instanceof ChannelError ? error.code : undefined;
}
`;
  writeFileSync(join(app, "check.mts"), typed);
  writeFileSync(join(app, "check.cts"), typed);
  console.log("types (nodenext, skipLibCheck: false)");
  r = run(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app, 120_000);
  r.status === 0
    ? ok("check.mts (import conditions) and check.cts (require conditions) compile, publish-only channel-ws without socket.io included")
    : fail(`tsc found errors:\n${shown(r)}`);
  // And as a bundler-based app (Vite, esbuild, webpack) resolves them.
  writeFileSync(
    join(app, "tsconfig.bundler.json"),
    JSON.stringify({
      extends: "./tsconfig.json",
      compilerOptions: { module: "esnext", moduleResolution: "bundler" },
      files: ["check.ts"],
    }),
  );
  writeFileSync(join(app, "check.ts"), typed);
  r = run(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.bundler.json"], app, 120_000);
  r.status === 0 ? ok("check.ts compiles under moduleResolution: bundler") : fail(`tsc (bundler) found errors:\n${shown(r)}`);
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const secs = ((Date.now() - started) / 1000).toFixed(0);
console.log(failures === 0 ? `consumer smoke test passed (${secs}s)` : `consumer smoke test: ${failures} failure(s) (${secs}s)`);
process.exit(failures === 0 ? 0 : 1);
