// Runs the README's TypeScript examples as written, in order, against real browsers' clients:
// the setup block builds the front end "web-server-1" and the publishing service `message`
// (only its address changes: a free local port instead of web-1.internal:3000), and every later
// block runs with what the setup declared in scope, then the clients say what arrived. And the
// examples, one after the other as a user would paste them, compile under strict TypeScript.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as nodeHttp from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import * as core from "@sfn/channel-core";
import * as socketIo from "socket.io";
import * as ts from "typescript";
import * as ws from "../src/index.js";
import { type Client, connect, until } from "./harness.js";

const readme = readFileSync(join(__dirname, "../README.md"), "utf8");
const modules: Record<string, unknown> = { "node:http": nodeHttp, "socket.io": socketIo, "@sfn/channel-core": core, "@sfn/channel-ws": ws };

/** The README's `ts` blocks by the heading they follow. */
function examples(): Map<string, string> {
  const out = new Map<string, string>();
  let heading = "";
  for (const m of readme.matchAll(/^#+ (.*)$|^```ts\n([\s\S]*?)^```$/gm)) {
    if (m[1] !== undefined) heading = m[1];
    else if (m[2] !== undefined) {
      if (out.has(heading)) throw new Error(`two examples under "${heading}"`);
      out.set(heading, m[2]);
    }
  }
  return out;
}
const blocks = examples();
const block = (heading: string): string => {
  const code = [...blocks].find(([h]) => h.startsWith(heading))?.[1];
  if (code === undefined) throw new Error(`README has no example under "${heading}"`);
  return code;
};

type Scope = Record<string, unknown>;
type AsyncFn = (...args: unknown[]) => Promise<Scope>;
const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => AsyncFn;
const logs: unknown[][] = [];
const recordingConsole = { log: (...args: unknown[]) => void logs.push(args) };

/** Runs one example (TypeScript, with imports) with `scope` in reach; resolves with `ret` evaluated at its end. */
function run(code: string, scope: Scope, ret = "{}"): Promise<Scope> {
  const js = ts
    .transpileModule(code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } })
    .outputText.replace(
      /^import \{([^}]*)\} from "([^"]+)";$/gm,
      (_, names: string, from: string) => `const {${names.replace(/\bas\b/g, ":")}} = __modules[${JSON.stringify(from)}];`,
    );
  const names = Object.keys(scope);
  return new AsyncFunction("__modules", "console", ...names, `${js}\nreturn ${ret};`)(
    modules,
    recordingConsole,
    ...names.map((n) => scope[n]),
  );
}

interface Setup {
  http: nodeHttp.Server;
  io: socketIo.Server;
  web: ws.WithWs<core.MessageChannel>;
  message: ws.WithWs<core.MessageChannel>;
}
let setup: Setup;
let port: number;
const clients: Client[] = [];

beforeAll(async () => {
  port = await new Promise<number>((resolve) => {
    const probe = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const code = block("Setup").replaceAll("web-1.internal", "127.0.0.1").replaceAll("3000", String(port));
  setup = (await run(code, {}, "{ http, io, web, message }")) as unknown as Setup;
  // What the application itself would add: rooms the clients ask to join, and the /admin namespace.
  for (const nsp of [setup.io.of("/"), setup.io.of("/admin")]) {
    nsp.on("connection", (socket) =>
      socket.on("join", (rooms: string[], ack: () => void) => {
        socket.join(rooms);
        ack();
      }),
    );
  }
});

afterEach(() => {
  for (const c of clients.splice(0)) c.socket.disconnect();
});

afterAll(async () => {
  await setup?.message.close({ drainTimeout: 0 });
  await setup?.web.close({ drainTimeout: 0 });
  setup?.io.disconnectSockets(true);
  await new Promise<void>((r) => (setup ? setup.io.close(() => r()) : r()));
});

async function client(nsp = "/", ...rooms: string[]): Promise<Client> {
  const c = await connect(port, nsp);
  clients.push(c);
  if (rooms.length > 0) await c.socket.timeout(5000).emitWithAck("join", rooms);
  return c;
}

/** A marker behind everything the example sent to this namespace: once all have it, the rest has arrived. */
async function flushed(who: Client[], nsp = "/"): Promise<void> {
  const tag = Math.random().toString(36).slice(2);
  expect(setup.message.ws.of(nsp).emit("marker", tag)).toBe(true);
  await until(() => who.every((c) => c.got("marker").some((a) => a[0] === tag)), 10_000, "marker");
}

describe("the README's examples, run as written", () => {
  it("Setup: the publishing service sees the front end", () => {
    expect(setup.message.ws.servers()).toEqual(["web-server-1"]);
  });

  it("The seed's examples", async () => {
    // "a socket id is a room": this client stands in for the socket SYGJBR5az95_37HhAAAB.
    const [target, other] = [await client("/", "SYGJBR5az95_37HhAAAB"), await client()];
    await run(block("The seed's examples"), setup as unknown as Scope);
    await flushed([target, other]);
    expect(target.got("greeting")).toEqual([["Hello, World!"], ["Hello, World!"], ["Hello, World!"]]);
    expect(other.got("greeting")).toEqual([["Hello, World!"], ["Hello, World!"]]);
  });

  it("Operators: the admins' alert and tick both arrive, a partial chain is reused, flags and binary pass", async () => {
    const [ops, muted] = [await client("/admin", "ops"), await client("/admin", "ops", "muted")];
    const [both, one, none] = [await client("/", "room-1", "room-2"), await client("/", "room-1"), await client()];
    await run(block("Operators"), setup as unknown as Scope);
    await flushed([ops, muted], "/admin");
    await flushed([both, one, none]);
    expect(ops.got("alert")).toEqual([[{ level: "high" }]]);
    expect(muted.got("alert")).toEqual([[{ level: "high" }]]);
    // The volatile tick right behind the alert, in the same tick of the event loop, goes out too.
    expect(ops.got("tick")).toEqual([[expect.any(Number)]]);
    expect(muted.got("tick")).toEqual([]);
    expect(both.got("news")).toEqual([[{ id: 7 }]]);
    expect(one.got("news")).toEqual([[{ id: 7 }]]);
    expect(none.got("news")).toEqual([]);
    expect(both.got("message")).toEqual([["plain message"]]);
    expect(none.got("message")).toEqual([]);
    expect(none.got("big")).toEqual([["x".repeat(100_000)]]);
    const [[file]] = none.got("file") as [[Buffer]];
    expect(Buffer.isBuffer(file) && [...file]).toEqual([1, 2, 3]);
  });

  it("Remote operations", async () => {
    const [lobby, banned] = [await client("/", "lobby"), await client("/", "banned")];
    const gone = new Promise<string>((r) => banned.socket.once("disconnect", r));
    const { sockets } = await run(block("Remote operations"), setup as unknown as Scope, "{ sockets }");
    expect(sockets).toEqual([expect.objectContaining({ id: lobby.socket.id, server: "web-server-1" })]);
    expect((sockets as ws.RemoteSocketInfo[])[0]?.rooms.sort()).toEqual([lobby.socket.id, "game-7"].sort());
    expect(await gone).toBe("io server disconnect");
  });

  it("Broadcast acknowledgements", async () => {
    const voter = await client("/", "voters");
    await client();
    logs.length = 0;
    await run(block("Broadcast acknowledgements"), setup as unknown as Scope);
    expect(logs).toEqual([[[`${voter.socket.id}:poll-1`]]]);
  });

  it("compile as one strict TypeScript file (skipLibCheck off)", async () => {
    // In the package, so that socket.io, core and @types/node resolve as they do for a user.
    const dir = mkdtempSync(join(__dirname, "../.readme-tsc-"));
    try {
      const lines = [...blocks.values()].join("\n").split("\n");
      const source = [...lines.filter((l) => l.startsWith("import ")), ...lines.filter((l) => !l.startsWith("import ")), "export {};"];
      writeFileSync(join(dir, "readme.ts"), source.join("\n"));
      writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
      const compilerOptions = {
        noEmit: true,
        skipLibCheck: false,
        // The snippets show values without using all of them.
        noUnusedLocals: false,
        types: ["node"],
        paths: { "@sfn/channel-ws": ["../src/index.ts"] },
      };
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({ extends: "../../../tsconfig.base.json", compilerOptions, files: ["readme.ts"] }),
      );
      const tsc = require.resolve("typescript/bin/tsc");
      const out = await promisify(execFile)(process.execPath, [tsc, "-p", dir]).then(
        () => "",
        (e: { stdout?: string }) => String(e.stdout),
      );
      expect(out).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
