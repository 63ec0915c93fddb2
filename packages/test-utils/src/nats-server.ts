import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Private `nats-server` processes for tests: each on free 127.0.0.1 ports (never the machine's
 * 4222), started, waited for, and stopped by the test. Debian's `nats-server` package (2.9)
 * is enough: `nats-server` on the PATH, else /usr/sbin/nats-server (not on a user's PATH).
 */

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /**
   * Enable JetStream, with its store in a fresh temporary directory removed by `stop()` (kept
   * across `kill()`/`restart()`). For a cluster member the server runs from a config file
   * generated there (JetStream clustering on 2.9 needs `server_name` and routes in a file).
   * @default false
   */
  jetstream?: boolean;
  /** Server name (`-n`). @default "sfn-test-<client port>" */
  name?: string;
  /** Extra command-line arguments. @default [] */
  args?: string[];
  /** How long to wait for the server to accept connections, in ms. @default 10000 */
  startTimeout?: number;
}

/** A running private `nats-server`. */
export interface NatsServer {
  /** Client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Client port. */
  readonly port: number;
  /** HTTP monitoring port (`/varz`, `/routez`, `/healthz`). */
  readonly monitorPort: number;
  /** Cluster (route) port, for a cluster member. */
  readonly clusterPort: number | undefined;
  /** Server name. */
  readonly name: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** The last lines the server logged (for failure messages). */
  log(): string;
  /** Reads a monitoring endpoint (`"routez"`, `"varz"`, ...) as JSON. */
  monitor<T = Record<string, unknown>>(endpoint: string): Promise<T>;
  /** Sends `signal` (SIGKILL by default: a crash) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same ports (and JetStream store); resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Stops the server for good (SIGTERM, SIGKILL after 5 s) and removes its temporary files. */
  stop(): Promise<void>;
}

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions extends Omit<NatsServerOptions, "name"> {
  /** Cluster name (`--cluster_name`). @default "sfn-test" */
  clusterName?: string;
  /**
   * Port that member `from`'s route URL uses to reach member `to`'s cluster port; by default that
   * port itself. Return a `TcpProxy` port to put a proxy on a route (with 2 members the route
   * then surely goes through it; with more, gossip may let members find each other directly).
   */
  routePort?: (from: number, to: number, clusterPort: number) => number | Promise<number>;
}

/** A running cluster of private `nats-server`s, fully routed. */
export interface NatsCluster {
  /** The members, in start order. */
  readonly servers: readonly NatsServer[];
  /** Client URLs of every member. */
  readonly urls: string[];
  /** Resolves once every running member has a route to every other running member. */
  waitForRoutes(timeout?: number): Promise<void>;
  /** Restarts member `index` on its ports and waits for the full set of routes again. */
  restart(index: number): Promise<void>;
  /** Stops every member. */
  stop(): Promise<void>;
}

let binary: string | undefined;
function natsServerBinary(): string {
  binary ??=
    ["nats-server", "/usr/sbin/nats-server"].find((b) => spawnSync(b, ["--version"], { stdio: "ignore" }).status === 0) ?? "nats-server";
  return binary;
}
const LOG_LIMIT = 16 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** True if a `nats-server` binary can be run here. */
export function hasNatsServer(): boolean {
  return spawnSync(natsServerBinary(), ["--version"], { stdio: "ignore" }).status === 0;
}

/** Below Linux's ephemeral range (32768-60999): the kernel never hands these out on its own. */
const STABLE_PORTS = { from: 20_000, to: 32_000 };

/**
 * A free port for a server that a test kills and restarts on the same port. A port from the
 * ephemeral range, free while its server is down, can meanwhile become the local port of any
 * outgoing connection or of any `listen(0)` on the machine, and the restart then fails; one below
 * that range is only taken by someone asking for it by number.
 */
export async function stablePort(): Promise<number> {
  // Jest runs test files in parallel worker processes: each worker takes its ports from a slice
  // of its own, so a server one worker killed (its port free until the restart) is never
  // another worker's "free" port.
  const worker = Number(process.env.JEST_WORKER_ID);
  const slices = 8;
  let from = STABLE_PORTS.from;
  let span = STABLE_PORTS.to - STABLE_PORTS.from;
  if (Number.isInteger(worker) && worker > 0) {
    span = Math.floor(span / slices);
    from += ((worker - 1) % slices) * span;
  }
  for (let attempt = 0; ; attempt++) {
    const port = from + Math.floor(Math.random() * span);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt > 200) return freePort();
  }
}

/** The `server_name` of the NATS server answering on 127.0.0.1:`port` (from its INFO line). */
function serverNameAt(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let text = "";
    const done = (name: string | undefined): void => {
      socket.destroy();
      resolve(name);
    };
    socket.setTimeout(2000, () => done(undefined));
    socket.on("error", () => done(undefined));
    socket.on("data", (chunk) => {
      text += chunk.toString("utf8");
      const end = text.indexOf("\r\n");
      if (end < 0) return;
      try {
        const info = JSON.parse(text.slice(text.indexOf("{"), end)) as { server_name?: string };
        done(info.server_name);
      } catch {
        done(undefined);
      }
    });
  });
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function getJson<T>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = get({ host: "127.0.0.1", port, path, timeout: 2000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} on port ${port} timed out`)));
    req.on("error", reject);
  });
}

/** Retries `probe` with short growing pauses until it returns true (polling a process we do not own the events of). */
async function poll(probe: () => Promise<boolean>, timeout: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeout;
  let pause = 10;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what()} within ${timeout} ms`);
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 200);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A safety net: a test that forgets `stop()` (or a crashed worker) leaves no server behind.
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

interface Ports {
  client: number;
  monitor: number;
  cluster?: { port: number; name: string; routes: string[] };
}

function jetStreamClusterConfig(name: string, storeDir: string, cluster: NonNullable<Ports["cluster"]>): string {
  const routes = cluster.routes.map((r) => JSON.stringify(r)).join(", ");
  return [
    `server_name: ${JSON.stringify(name)}`,
    `jetstream { store_dir: ${JSON.stringify(join(storeDir, "store"))} }`,
    `cluster { name: ${JSON.stringify(cluster.name)}, listen: "127.0.0.1:${cluster.port}", routes: [${routes}] }`,
    "",
  ].join("\n");
}

class PrivateNatsServer implements NatsServer {
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly clusterPort: number | undefined;
  readonly name: string;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private output = "";
  private readonly storeDir: string | undefined;

  constructor(
    private readonly ports: Ports,
    private readonly options: NatsServerOptions,
  ) {
    this.port = ports.client;
    this.monitorPort = ports.monitor;
    this.clusterPort = ports.cluster?.port;
    this.url = `nats://127.0.0.1:${ports.client}`;
    this.name = options.name ?? `sfn-test-${ports.client}`;
    this.storeDir = options.jetstream ? mkdtempSync(join(tmpdir(), "sfn-nats-js-")) : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return this.output;
  }

  monitor<T>(endpoint: string): Promise<T> {
    return getJson<T>(this.monitorPort, `/${endpoint}`);
  }

  /** Spawns the process and waits until `/healthz` answers. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`nats-server ${this.name} is already running`);
    const args = ["-a", "127.0.0.1", "-p", String(this.ports.client), "-m", String(this.ports.monitor), "-n", this.name];
    const cluster = this.ports.cluster;
    if (cluster && this.storeDir) {
      // A JetStream cluster member (2.9) needs server_name, store and routes in a config file.
      const file = join(this.storeDir, "server.conf");
      writeFileSync(file, jetStreamClusterConfig(this.name, this.storeDir, cluster));
      args.push("-c", file);
    } else if (cluster) {
      args.push("--cluster_name", cluster.name, "--cluster", `nats://127.0.0.1:${cluster.port}`);
      if (cluster.routes.length > 0) args.push("--routes", cluster.routes.join(","));
    }
    if (this.storeDir && !cluster) args.push("-js", "-sd", this.storeDir);
    args.push(...(this.options.args ?? []));
    installExitHook();
    const child = spawn(natsServerBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    running.add(child);
    this.exited = once(child, "exit").catch(() => undefined);
    void this.exited.then(() => running.delete(child));
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString("utf8")).slice(-LOG_LIMIT);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.once("error", (error) => keep(Buffer.from(`spawn failed: ${error.message}\n`)));
    try {
      await poll(
        async () => {
          if (!this.running) throw new Error("exited");
          const health = await this.monitor<{ status?: string }>("healthz");
          // The client port must be this server's: one found free a moment ago may have gone to
          // another server meanwhile (this process then exits, but not always before it is healthy).
          return health.status === "ok" && (await serverNameAt(this.ports.client)) === this.name;
        },
        this.options.startTimeout ?? 10000,
        () => `nats-server ${this.name} (${args.join(" ")}) did not start${this.running ? "" : " (it exited)"}; its log:\n${this.output}`,
      );
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill(signal);
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && this.running) {
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.kill("SIGTERM");
      await this.exited;
      clearTimeout(timer);
    }
    if (this.storeDir) rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/**
 * Starts a private `nats-server` on free 127.0.0.1 ports and resolves once it accepts
 * connections. Stop it with `stop()` in the test's teardown.
 *
 * @example
 * ```ts
 * const server = await startNatsServer();
 * const nc = await connect({ servers: server.url });
 * // ...
 * await nc.close();
 * await server.stop();
 * ```
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  // A port found free can be taken by someone else before the server binds it: try again.
  for (let attempt = 1; ; attempt++) {
    const server = new PrivateNatsServer({ client: await stablePort(), monitor: await stablePort() }, options);
    try {
      await server.start();
      return server;
    } catch (error) {
      await server.stop();
      if (attempt >= 3) throw error;
    }
  }
}

/**
 * Starts `n` private `nats-server`s routed to each other in one cluster (every member lists
 * every other in `--routes`), and resolves once every route is up.
 *
 * @example
 * ```ts
 * const cluster = await startNatsCluster(3);
 * await cluster.servers[1]!.kill();     // SIGKILL: a crash
 * await cluster.restart(1);             // same ports, routes up again
 * await cluster.stop();
 * ```
 */
export async function startNatsCluster(n = 3, options: NatsClusterOptions = {}): Promise<NatsCluster> {
  if (!Number.isInteger(n) || n < 1) throw new Error("a cluster needs at least one server");
  for (let attempt = 1; ; attempt++) {
    const ports: { client: number; monitor: number; cluster: number }[] = [];
    for (let i = 0; i < n; i++) ports.push({ client: await stablePort(), monitor: await stablePort(), cluster: await stablePort() });
    const name = options.clusterName ?? "sfn-test";
    const routes: string[][] = [];
    for (let i = 0; i < n; i++) {
      routes.push([]);
      for (let j = 0; j < n; j++) {
        if (j !== i) routes[i]!.push(`nats://127.0.0.1:${(await options.routePort?.(i, j, ports[j]!.cluster)) ?? ports[j]!.cluster}`);
      }
    }
    const servers = ports.map(
      (p, i) =>
        new PrivateNatsServer(
          { client: p.client, monitor: p.monitor, cluster: { port: p.cluster, name, routes: routes[i]! } },
          { ...options, name: `${name}-${i + 1}` },
        ),
    );
    const cluster = new PrivateNatsCluster(servers);
    try {
      await Promise.all(servers.map((s) => s.start()));
      await cluster.waitForRoutes(options.startTimeout ?? 20000);
      return cluster;
    } catch (error) {
      await cluster.stop();
      if (attempt >= 3) throw error;
    }
  }
}

class PrivateNatsCluster implements NatsCluster {
  constructor(readonly servers: readonly PrivateNatsServer[]) {}

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  async waitForRoutes(timeout = 20000): Promise<void> {
    const live = this.servers.filter((s) => s.running);
    // 2.9's /routez names each route's far end by server id only (remote_id).
    type Routez = { server_id: string; routes?: { remote_id?: string }[] };
    let last = "";
    await poll(
      async () => {
        const seen = await Promise.all(live.map((s) => s.monitor<Routez>("routez")));
        last = seen.map((r, i) => `${live[i]!.name}: ${r.routes?.length ?? 0} route(s)`).join(", ");
        return seen.every((r, i) => seen.every((other, j) => i === j || (r.routes ?? []).some((x) => x.remote_id === other.server_id)));
      },
      timeout,
      () => `cluster routes not complete (${last})`,
    );
  }

  async restart(index: number): Promise<void> {
    const server = this.servers[index];
    if (!server) throw new Error(`no cluster member ${index}`);
    await server.restart();
    await this.waitForRoutes();
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}
