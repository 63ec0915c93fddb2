import { join } from "node:path";
import { TcpProxy, spawnService, until, type ServiceProcess } from "@sfn/test-utils";

const fixture = join(__dirname, "fixtures/service.ts");
const children: ServiceProcess[] = [];
const proxies: TcpProxy[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

type Counts = Record<string, { n: number; last: number; outOfOrder: number; dup: number }>;

async function counts(sub: ServiceProcess): Promise<Counts> {
  const before = sub.messages.length;
  sub.send({ cmd: "counts" });
  const m = await sub.next((x: { type?: string }) => x.type === "counts" && sub.messages.indexOf(x) >= before);
  return (m as unknown as { counts: Counts }).counts;
}

async function start(name: string, args: string[]): Promise<ServiceProcess> {
  const child = await spawnService(fixture, [name, ...args]);
  children.push(child);
  return child;
}

/** Polls the subscriber's counters until `n` messages from the publisher arrived (or 30 s pass). */
async function waitForCount(sub: ServiceProcess, n: number): Promise<Counts> {
  const deadline = Date.now() + 30_000;
  let c: Counts = {};
  do {
    c = await counts(sub);
    if ((c.publisher?.n ?? 0) >= n) break;
    // Each poll is an IPC round trip to the child; a short pause keeps it from spinning.
    await new Promise((r) => setTimeout(r, 10));
  } while (Date.now() < deadline);
  return c;
}

/**
 * The random cut schedule, seeded: `CHAOS_SEED=<n>` replays a run, and a failure names its seed.
 * (mulberry32: small, fast and good enough to spread cuts over time.)
 */
function seededRandom(): { seed: number; next: () => number } {
  const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);
  let a = seed;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next };
}

/** Runs `body`; a failure says which seed to replay it with. */
async function withSeed(seed: number, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof Error) error.message = `${error.message}\n(chaos seed ${seed}: replay with CHAOS_SEED=${seed})`;
    throw error;
  }
}

const portOf = (child: ServiceProcess): number => {
  const ready = child.messages.find((m) => (m as { type?: string }).type === "ready") as { url: string };
  return Number(new URL(ready.url).port);
};

describe("chaos: links cut at random while messages flow", () => {
  it("delivers 100,000 messages exactly once and in order across at least 50 cuts", async () => {
    const { seed, next: random } = seededRandom();
    await withSeed(seed, async () => {
      const pub = await start("publisher", ["--listen", "0", "--heartbeat", "500"]);
      const proxy = await new TcpProxy(portOf(pub)).start();
      proxies.push(proxy);
      const sub = await start("subscriber", ["--connect", proxy.url, "--count", "chaos", "--heartbeat", "500"]);
      await until(() => proxy.connections > 0);

      // The flood goes in chunks, and another chunk starts until 50 cuts have landed while
      // messages flowed: the run cannot pass (or fail) by how fast the machine happens to be.
      const CHUNK = 10_000;
      let N = 0;
      let cuts = 0;
      while (N < 100_000 || cuts < 50) {
        const end = N + CHUNK;
        pub.send({ cmd: "flood", topic: "chaos", n: CHUNK, from: N, rate: 10_000 });
        let flooded = false;
        const chunkDone = pub
          .next((m: { type?: string; n?: number }) => m.type === "flooded" && m.n === end, 120_000)
          .then(() => (flooded = true));
        while (!flooded) {
          // A random moment: somewhere in the next 20-100 ms.
          await new Promise((r) => setTimeout(r, 20 + random() * 80));
          if (!flooded && proxy.cut() > 0) cuts++;
        }
        await chunkDone;
        N = end;
      }

      const c = await waitForCount(sub, N);
      expect(cuts).toBeGreaterThanOrEqual(50);
      expect(c.publisher).toEqual({ n: N, last: N, outOfOrder: 0, dup: 0 });
      expect(pub.messages.filter((m) => (m as { type?: string }).type === "drop")).toEqual([]);
      const resumes = pub.messages.filter(
        (m) => (m as { type?: string; resumed?: boolean }).type === "link:up" && (m as { resumed?: boolean }).resumed,
      );
      expect(resumes.length).toBeGreaterThanOrEqual(50);
    });
  }, 180_000);

  it("survives the subscriber's process being paused past the heartbeat timeout and resumed within the window", async () => {
    const N = 6_000;
    const pub = await start("publisher", ["--listen", "0", "--heartbeat", "100"]);
    const url = `ws://127.0.0.1:${portOf(pub)}/`;
    const sub = await start("subscriber", ["--connect", url, "--count", "paused", "--heartbeat", "100"]);
    pub.send({ cmd: "flood", topic: "paused", n: N, rate: 3_000 });
    // Pause once the flood is under way; resume once the publisher has declared the link dead
    // (heartbeat timeout, 300 ms) and kept publishing into the window meanwhile.
    for (let seen = 0; seen < 500; ) seen = (await counts(sub)).publisher?.n ?? 0;
    sub.child.kill("SIGSTOP");
    await pub.next((m: { type?: string; reason?: string }) => m.type === "link:down" && m.reason === "heartbeat-timeout", 10_000);
    sub.child.kill("SIGCONT");
    await pub.next((m: { type?: string }) => m.type === "flooded", 60_000);

    const c = await waitForCount(sub, N);
    expect(c.publisher).toEqual({ n: N, last: N, outOfOrder: 0, dup: 0 });
    expect(pub.messages.filter((m) => (m as { type?: string }).type === "drop")).toEqual([]);
  }, 60_000);
});
