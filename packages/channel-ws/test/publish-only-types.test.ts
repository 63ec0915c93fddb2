// A service that only publishes installs @sfn/channel-ws without socket.io (an optional peer)
// and must compile with `skipLibCheck: false`, under `nodenext` (ESM and CJS files) and
// `bundler`. The test lays out such a service in a temp dir, away from the workspace's
// node_modules: this package's declarations bundled from the current sources exactly as
// `pnpm build` bundles them (tsup, dts only), core's built dist, and the types they need
// besides (msgpackr, @types/node). Then it runs `tsc --noEmit` there.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const pkg = join(__dirname, "..");
const core = join(pkg, "../channel-core");
const tsc = require.resolve("typescript/bin/tsc", { paths: [pkg] });
const tsup = require.resolve("tsup/dist/cli-default.js", { paths: [pkg] });
let dir: string;

const ESM = `import { MessageChannel } from "@sfn/channel-core";
import { withWs, WsTimeoutError, type RemoteSocketInfo } from "@sfn/channel-ws";

const message = withWs(new MessageChannel({ id: "rpc-server-1" }));
await message.connect("ws://web-1.internal:3000/sfn-channel");
message.ws.emit("greeting", "Hello, World!");
message.ws.via("web-server-1").to("SYGJBR5az95_37HhAAAB").emit("greeting", "Hello, World!");
const sockets: RemoteSocketInfo[] = await message.ws.in("game-7").fetchSockets();
try {
  await message.ws.timeout(2000).emitWithAck("vote?", sockets.length);
} catch (err) {
  if (err instanceof WsTimeoutError) console.log(err.answered, err.missing);
}
`;

const CJS = `import { MessageChannel } from "@sfn/channel-core";
import { withWs } from "@sfn/channel-ws";

export function push(): boolean {
  return withWs(new MessageChannel({ id: "worker-1" })).ws.to("room-1").emit("news", 1);
}
`;

const tsconfig = (options: Record<string, unknown>, files: string[]): string =>
  JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, target: "ES2022", types: ["node"], ...options },
    files,
  });

/** `node_modules/<name>` in the temp service: a copy of `from`'s package.json and `dist`. */
function install(name: string, from: string, dist: string): void {
  const to = join(dir, "node_modules", name);
  mkdirSync(to, { recursive: true });
  cpSync(join(from, "package.json"), join(to, "package.json"));
  cpSync(dist, join(to, "dist"), { recursive: true });
}

/** `node_modules/<name>` in the temp service: a link to the copy that `from` resolves. */
function link(name: string, from: string): void {
  let at = from;
  while (!existsSync(join(at, "node_modules", name))) {
    if (dirname(at) === at) throw new Error(`${name} is not installed`);
    at = dirname(at);
  }
  const to = join(dir, "node_modules", name);
  mkdirSync(dirname(to), { recursive: true });
  symlinkSync(realpathSync(join(at, "node_modules", name)), to, "dir");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sfn-ws-publish-only-"));
  if (!existsSync(join(core, "dist/index.d.ts"))) throw new Error("build @sfn/channel-core first (pnpm -F @sfn/channel-core build)");
  const dts = join(dir, "ws-dts");
  await run(process.execPath, [tsup, "--dts-only", "--out-dir", dts], { cwd: pkg });
  install("@sfn/channel-ws", pkg, dts);
  install("@sfn/channel-core", core, join(core, "dist"));
  link("msgpackr", core);
  link("@types/node", pkg);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "publish-only", private: true, type: "module" }));
  writeFileSync(join(dir, "publish.ts"), ESM);
  writeFileSync(join(dir, "publish-cjs.cts"), CJS);
  writeFileSync(
    join(dir, "tsconfig.nodenext.json"),
    tsconfig({ module: "nodenext", moduleResolution: "nodenext" }, ["publish.ts", "publish-cjs.cts"]),
  );
  writeFileSync(join(dir, "probe.ts"), `import type { Server } from "socket.io";\nexport type S = Server;\n`);
  writeFileSync(join(dir, "tsconfig.probe.json"), tsconfig({ module: "nodenext", moduleResolution: "nodenext" }, ["probe.ts"]));
  writeFileSync(join(dir, "tsconfig.bundler.json"), tsconfig({ module: "esnext", moduleResolution: "bundler" }, ["publish.ts"]));
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function typecheck(project: string): Promise<string> {
  try {
    await run(process.execPath, [tsc, "-p", project], { cwd: dir });
    return "";
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

describe("a publish-only TypeScript service without socket.io installed", () => {
  it("has no socket.io to resolve (the setup is honest)", async () => {
    expect(await typecheck("tsconfig.probe.json")).toMatch(/TS2307: Cannot find module 'socket.io'/);
  });

  it("compiles with skipLibCheck off under moduleResolution nodenext (ESM and CJS)", async () => {
    expect(await typecheck("tsconfig.nodenext.json")).toBe("");
  });

  it("compiles with skipLibCheck off under moduleResolution bundler", async () => {
    expect(await typecheck("tsconfig.bundler.json")).toBe("");
  });
});
