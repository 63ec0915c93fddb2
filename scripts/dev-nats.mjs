// `pnpm dev:nats`: the demo (demo-web and demo-rpc) over NATS instead of the mesh.
//
// Which NATS server: NATS_URL if set (it must answer); else the one on 127.0.0.1:4222 if it
// answers; else a private `nats-server` (on the PATH, or Debian's /usr/sbin/nats-server) started
// here on a free 127.0.0.1 port and stopped when the demo stops (Ctrl-C).
import { spawn, spawnSync } from "node:child_process";
import { connect, createServer } from "node:net";

const root = new URL("..", import.meta.url).pathname;

/** True if something accepts TCP connections at the host and port of a nats:// URL. */
function reachable(url) {
  const { hostname, port } = new URL(url.includes("://") ? url : `nats://${url}`);
  return new Promise((resolve) => {
    const s = connect(Number(port || 4222), hostname || "127.0.0.1");
    s.setTimeout(2000, () => s.destroy());
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("close", () => resolve(false));
  });
}

const freePort = () =>
  new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

let privateNats;

/** Starts a private nats-server on a free port; resolves with its URL once it accepts connections. */
async function startPrivateNats() {
  const binary = ["nats-server", "/usr/sbin/nats-server"].find((b) => spawnSync(b, ["--version"], { stdio: "ignore" }).status === 0);
  if (!binary) {
    console.error(
      "dev:nats: no NATS server at 127.0.0.1:4222 and no nats-server binary to start one.\n" +
        "Set NATS_URL to a running server, or install one (Debian: apt-get install nats-server).",
    );
    process.exit(1);
  }
  const port = await freePort();
  // Its own process group: Ctrl-C reaches the apps first; this server stops after them.
  privateNats = spawn(binary, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore", detached: true });
  const url = `nats://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await reachable(url))) {
    if (privateNats.exitCode !== null || Date.now() > deadline) {
      console.error(`dev:nats: the private nats-server on port ${port} did not start`);
      stopPrivateNats();
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(`dev:nats: started a private nats-server at ${url} (stopped with the demo)`);
  return url;
}

function stopPrivateNats() {
  if (privateNats && privateNats.exitCode === null && privateNats.signalCode === null) privateNats.kill("SIGTERM");
}

let url = process.env.NATS_URL;
if (url) {
  if (!(await reachable(url))) {
    console.error(`dev:nats: NATS_URL=${url} does not answer`);
    process.exit(1);
  }
} else if (await reachable("nats://127.0.0.1:4222")) {
  url = "nats://127.0.0.1:4222";
} else {
  url = await startPrivateNats();
}
console.log(`dev:nats: the demo runs over NATS at ${url}`);

const turbo = spawn("pnpm", ["exec", "turbo", "run", "dev", "--continue"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, DEMO_ROUTER: "nats", NATS_URL: url },
});
// Ctrl-C goes to the whole foreground group (turbo and the apps): wait for them to stop.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => turbo.kill("SIGTERM"));
process.on("exit", stopPrivateNats);
turbo.once("exit", (code, signal) => {
  stopPrivateNats();
  process.exit(code ?? (signal ? 1 : 0));
});
