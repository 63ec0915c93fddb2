import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel, type DropInfo } from "@sfn/channel-core";
import { spawnService, startNatsCluster, until, type NatsCluster, type ServiceProcess } from "@sfn/test-utils";
import { nats, type NatsDurableOptions } from "../src/index.js";

// Issue 13's chaos run: 2 publishers to 3 subscribers over a 3-node JetStream cluster with an R3
// stream, while the test SIGKILLs and restarts a NATS node 5 times and a subscriber service
// twice, every event while messages flow. Every message arrives exactly once, in order per
// publisher, at every subscriber. The killed one stores each message's position with its effect
// (one write) and gives the positions back when it starts (`durable.handled`): the README's way to
// exactly-once effects across a crash. Without them it would be at least once (see the README).
//
// The figures: SFN_CHAOS_MESSAGES=100000 SFN_CHAOS_RATE=10000. The default is smaller,
// for the test suite on shared CI cores.
const TOTAL = Number(process.env.SFN_CHAOS_MESSAGES ?? 10_000);
const RATE = Number(process.env.SFN_CHAOS_RATE ?? 2_000);
const NODE_KILLS = 5;
const SUBSCRIBER_KILLS = 2;
const durable: NatsDurableOptions = { replicas: 3, ackWait: 2000, publishTimeout: 2000, maxAckPending: 1000 };
const namespace = "chaos";
// The stream (and each publisher's queue) must hold the run's backlog: what a limit discards is
// reported, not delivered (the durable test checks that).
const window = { maxMessages: Math.max(65_536, 2 * TOTAL), maxBytes: 1024 * 1024 * 1024 };

jest.setTimeout(Math.max(300_000, (TOTAL / RATE) * 1000 * 6 + 240_000));

let cluster: NatsCluster;
let dir: string;
const subs: (ServiceProcess | undefined)[] = [];
const pubs: MessageChannel[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3, { jetstream: true, startTimeout: 30_000 });
  dir = mkdtempSync(join(tmpdir(), "sfn-chaos-"));
});

afterAll(async () => {
  await Promise.all(subs.map((s) => s?.kill()));
  await Promise.all(pubs.map((p) => p.close({ drainTimeout: 0 })));
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const fixture = join(__dirname, "fixtures/durable-subscriber.ts");
const outFile = (i: number) => join(dir, `sub-${i}.log`);
function startSubscriber(i: number): Promise<ServiceProcess> {
  // Each subscriber starts on another node (the client fails over to the others).
  const urls = [...cluster.urls.slice(i % 3), ...cluster.urls.slice(0, i % 3)].join(",");
  const args = [`sub-${i}`, urls, namespace, outFile(i), JSON.stringify(durable), JSON.stringify(window)];
  return spawnService(fixture, i === 0 ? [...args, "handled"] : args);
}

interface Read {
  /** Per publisher, what the listener got in order (within one process, or across restarts). */
  byPublisher: number[][];
  lines: string[];
}
function read(i: number): Read {
  const lines = readFileSync(outFile(i), "utf8").split("\n");
  const byPublisher: number[][] = [[], []];
  for (const line of lines) {
    const m = /^(\d) (\d+) /.exec(line);
    if (m) byPublisher[Number(m[1])]!.push(Number(m[2]));
  }
  return { byPublisher, lines };
}
const perPublisher = (p: number) => Math.floor(TOTAL / 2) + (p < TOTAL % 2 ? 1 : 0);
function complete(i: number): boolean {
  const { byPublisher } = read(i);
  return byPublisher.every((got, p) => new Set(got).size >= perPublisher(p));
}

it(`${TOTAL} messages at ${RATE}/s, 2 publishers, 3 subscribers, R3 stream: ${NODE_KILLS} node kills and ${SUBSCRIBER_KILLS} subscriber kills`, async () => {
  for (let i = 0; i < 3; i++) subs.push(await startSubscriber(i));
  const drops: DropInfo[] = [];
  for (let p = 0; p < 2; p++) {
    const urls = p === 0 ? cluster.urls : [...cluster.urls].reverse();
    const ch = new MessageChannel({
      id: `pub-${p}`,
      router: nats({ servers: urls, namespace, durable, window, reconnectTimeWait: 100, heartbeat: { interval: 250 } }),
    });
    ch.on("error", () => {});
    ch.on("drop", (d) => drops.push(d));
    pubs.push(ch);
  }
  await Promise.all(pubs.map((p) => p.ready()));

  // Chaos events, spread over the run, each while messages flow.
  const events: (() => Promise<void>)[] = [];
  for (let k = 0; k < NODE_KILLS; k++) {
    events.push(async () => {
      const node = k % 3;
      await cluster.servers[node]!.kill("SIGKILL");
      await cluster.restart(node);
    });
  }
  const spacing = Math.floor(TOTAL / (NODE_KILLS + SUBSCRIBER_KILLS + 1));
  for (let k = 0; k < SUBSCRIBER_KILLS; k++) {
    // Always the same subscriber (sub-0): the other two show exactly-once through node kills.
    events.splice(2 * k + 1, 0, async () => {
      // Killed while messages flow to it (publishing goes on during events).
      const target = published + Math.floor(spacing / 3);
      await until(() => published >= target, 600_000, "messages flowing before the subscriber kill");
      await subs[0]!.kill("SIGKILL");
      subs[0] = await startSubscriber(0);
    });
  }
  // Event k starts when publishing reaches mark k; publishing goes on meanwhile, but not past
  // mark k+1 before event k finished (so every event happens while messages flow).
  let finished = 0;
  let published = 0;
  const marks = events.map((_, k) => Math.floor(((k + 1) * TOTAL) / (events.length + 1)));
  const chaos = (async () => {
    for (let k = 0; k < events.length; k++) {
      await until(() => published >= marks[k]!, 600_000, "publishing up to the next chaos mark");
      await events[k]!();
      finished++;
    }
  })();

  const next = [0, 0];
  const t0 = Date.now();
  while (published < TOTAL) {
    const due = Math.min(TOTAL, Math.floor(((Date.now() - t0) * RATE) / 1000), finished + 1 < marks.length ? marks[finished + 1]! : TOTAL);
    while (published < due) {
      const p = published % 2;
      pubs[p]!.publish(`chaos.${p}`, { p, n: next[p]!++ });
      published++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await chaos;
  // close() waits for the server's acknowledgement of everything published.
  await Promise.all(pubs.splice(0).map((p) => p.close({ drainTimeout: 120_000 })));
  expect(drops).toEqual([]);

  // The subscribers write to files (no event to wait on): until() polls them on a timer.
  await until(() => [0, 1, 2].every(complete), 240_000, "every message at every subscriber");

  for (let i = 0; i < 3; i++) {
    const { byPublisher, lines } = read(i);
    expect(lines.filter((l) => l.startsWith("drop") || l.startsWith("error"))).toEqual([]);
    for (let p = 0; p < 2; p++) {
      const got = byPublisher[p]!;
      const expected = Array.from({ length: perPublisher(p) }, (_, n) => n);
      // In order: the first time each message appears, they come in publish order.
      expect(got).toEqual(expected); // exactly once, in order
    }
  }
  const starts = read(0).lines.filter((l) => l === "start").length;
  expect(starts).toBe(SUBSCRIBER_KILLS + 1);
  console.log(
    `chaos: ${TOTAL} messages at ${RATE}/s in ${Date.now() - t0} ms, ${NODE_KILLS} node kills, ${SUBSCRIBER_KILLS} subscriber kills mid-flow`,
  );
  await Promise.all(subs.map((s) => s?.kill()));
});
