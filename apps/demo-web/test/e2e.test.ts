import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { startNatsServer, type NatsServer } from "@sfn/test-utils";
import { chromium, type Browser, type Page } from "playwright-core";

// The demo, end to end, in a real headless Chromium (Debian's, driven by playwright-core), in
// both modes: `pnpm dev` (the mesh: demo-rpc links to demo-web) and `pnpm dev:nats` (both over
// a NATS server: a private one on a free port here, never the machine's 4222).
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const outDir = join(__dirname, "..", "test-output");
const apps = join(__dirname, "..", "..");

type Mode = "mesh" | "nats";
let port = 0;
let env: NodeJS.ProcessEnv = {};
let web: ChildProcess;
let rpc: ChildProcess;
let browser: Browser;
let natsServer: NatsServer | undefined;

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

/** Starts an app (TypeScript through tsx) and resolves once its output contains `ready`. */
function start(app: string, ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: join(apps, app),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes(ready)) resolve(child);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => process.stderr.write(d));
    child.once("exit", (code) => reject(new Error(`${app} exited (${code}) before "${ready}":\n${out}`)));
  });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

const text = (page: Page, id: string): Promise<string> => page.locator(`#${id}`).innerText();
const count = (page: Page, list: string, needle: string): Promise<number> =>
  page.evaluate(([l, n]) => [...document.querySelectorAll(`#${l} li`)].filter((li) => li.textContent?.includes(n)).length, [
    list,
    needle,
  ] as const);
const waitFor = (page: Page, list: string, needle: string, atLeast = 1): Promise<unknown> =>
  page.waitForFunction(
    ([l, n, k]) => [...document.querySelectorAll(`#${l} li`)].filter((li) => li.textContent?.includes(n)).length >= k,
    [list, needle, atLeast] as const,
    { timeout: 15_000 },
  );

async function open(mode: Mode): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 760 } })).newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(
    () => document.getElementById("ws-id")?.textContent !== "…" && document.getElementById("sse-id")?.textContent !== "…",
  );
  // The page says which router carries the demo (the NATS picture is built from presence).
  await page.waitForFunction(
    (m) => document.getElementById("mesh-title")?.textContent === (m === "nats" ? "Services over NATS (from presence)" : "Mesh"),
    mode,
  );
  return page;
}

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
});

describe.each<Mode>(["mesh", "nats"])("the demo in a real browser (%s)", (mode) => {
  beforeAll(async () => {
    port = await freePort();
    env = { DEMO_WEB_PORT: String(port), DEMO_TICK_MS: "300" };
    if (mode === "mesh") Object.assign(env, { DEMO_ROUTER: "mesh", SFN_SECRET: "e2e-test-only-secret-Kq7Vw2Xr9Tz4" });
    else {
      natsServer = await startNatsServer();
      env.DEMO_ROUTER = "nats";
      env.NATS_URL = natsServer.url;
    }
    web = await start("demo-web", "demo-web: open");
    rpc = await start("demo-rpc", "demo-rpc: linked to demo-web");
    // Over NATS both apps really are NATS clients of that server (no link between them).
    if (natsServer) expect((await natsServer.monitor<{ num_connections: number }>("connz")).num_connections).toBe(2);
  });

  afterAll(async () => {
    await stop(rpc);
    await stop(web);
    await natsServer?.stop();
    natsServer = undefined;
  });

  it("shows pushes from demo-rpc, delivers 'push to me' to this page only, keeps a closed SSE stream closed", async () => {
    const page = await open(mode);
    const other = await open(mode);

    // The picture shows demo-rpc (over NATS: heard through presence) with its link up.
    await page.waitForFunction(() => document.getElementById("link-state")?.textContent === "up", undefined, { timeout: 15_000 });
    expect(await page.locator("#mesh").textContent()).toContain("demo-rpc");

    // Broadcasts pushed by demo-rpc, which holds no browser connection, arrive on both transports.
    await waitFor(page, "ws-log", "tick");
    await waitFor(page, "sse-log", "tick");

    // "Push to me" over WebSocket reaches this page and not the other one.
    const socketId = await text(page, "ws-id");
    await page.click("#push-ws");
    await waitFor(page, "ws-log", `direct: just for you, socket ${socketId}`);
    let before = await count(other, "ws-log", "tick");
    await waitFor(other, "ws-log", "tick", before + 2); // later broadcasts arrived on the same path
    expect(await count(other, "ws-log", "direct")).toBe(0);

    // The same over SSE.
    const sseId = await text(page, "sse-id");
    await page.click("#push-sse");
    await waitFor(page, "sse-log", `direct: just for you, SSE client ${sseId}`);
    before = await count(other, "sse-log", "tick");
    await waitFor(other, "sse-log", "tick", before + 2);
    expect(await count(other, "sse-log", "direct")).toBe(0);

    // A room: only pages that joined it get the room push.
    await page.click("#join-room");
    await page.click("#push-room");
    await waitFor(page, "ws-log", "room: to everyone in demo-room");
    await waitFor(page, "sse-log", "room: to everyone in demo-room");
    before = await count(other, "ws-log", "tick");
    await waitFor(other, "ws-log", "tick", before + 2);
    expect(await count(other, "ws-log", "room:")).toBe(0);

    // Closing my SSE stream: it closes, and the browser's reconnect is refused, so it stays closed.
    await page.click("#close-sse");
    await page.waitForFunction(() => document.getElementById("sse-state")?.textContent === "closed", undefined, { timeout: 15_000 });
    const sseTicks = await count(page, "sse-log", "tick");
    before = await count(page, "ws-log", "tick");
    await waitFor(page, "ws-log", "tick", before + 5);
    expect(await text(page, "sse-state")).toBe("closed");
    expect(await count(page, "sse-log", "tick")).toBe(sseTicks);
    // The other page's stream is untouched.
    expect(await text(other, "sse-state")).toBe("open");

    mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: join(outDir, mode === "mesh" ? "demo.png" : "demo-nats.png") });
  });

  it("shows the link going down when demo-rpc stops and coming back when it restarts, without a reload", async () => {
    const page = await open(mode);
    await page.waitForFunction(() => document.getElementById("link-state")?.textContent === "up", undefined, { timeout: 15_000 });
    await stop(rpc);
    await page.waitForFunction(() => document.getElementById("link-state")?.textContent === "down", undefined, { timeout: 15_000 });
    rpc = await start("demo-rpc", "demo-rpc: linked to demo-web");
    await page.waitForFunction(() => document.getElementById("link-state")?.textContent === "up", undefined, { timeout: 15_000 });
    const before = await count(page, "ws-log", "tick");
    await waitFor(page, "ws-log", "tick", before + 1);
  });
});
