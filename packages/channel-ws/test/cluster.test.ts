import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Publisher, connect, startFrontEnd, until, type Client, type FrontEnd } from "./harness.js";

// Two front ends that form one Socket.IO cluster through the Redis adapter (Redis at REDIS_URL).
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const redis: Redis[] = [];
let web1: FrontEnd;
let web2: FrontEnd;
let pub: Publisher;
const clients: Client[] = [];

function adapter() {
  const pubClient = new Redis(redisUrl);
  const subClient = pubClient.duplicate();
  redis.push(pubClient, subClient);
  return createAdapter(pubClient, subClient, { key: `sfn-test-${process.pid}` });
}

beforeAll(async () => {
  web1 = await startFrontEnd("web-1", { adapter: adapter() });
  web2 = await startFrontEnd("web-2", { adapter: adapter() });
  pub = await Publisher.start([web1.url, web2.url]);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.socket.disconnect();
});

afterAll(async () => {
  await pub.stop();
  await web1.close();
  await web2.close();
  await Promise.all(redis.map((r) => r.quit()));
});

async function client(fe: FrontEnd): Promise<Client> {
  const c = await connect(fe.port);
  clients.push(c);
  return c;
}

/**
 * A marker sent via web-1 without `local` travels web-1 → Redis → web-2, the same ordered
 * path a duplicate would take: once every client has it, any duplicate would have arrived.
 */
async function flushed(who: Client[]): Promise<void> {
  const tag = Math.random().toString(36).slice(2);
  await pub.run(["via", "web-1"], ["emit", "marker", tag]);
  await until(() => who.every((c) => c.got("marker").some((a) => a[0] === tag)), 10_000, "marker");
}

describe("front ends behind a Socket.IO cluster adapter", () => {
  it("a push without via reaches each client exactly once (each front end applies it locally)", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    await pub.run(["emit", "once", 1]);
    await flushed([a, b]);
    expect(a.got("once")).toEqual([[1]]);
    expect(b.got("once")).toEqual([[1]]);
  });

  it("via(x) applies through x's Socket.IO server normally, reaching the rest of its cluster", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    await pub.run(["via", "web-1"], ["emit", "cluster-wide", 2]);
    await flushed([a, b]);
    expect(a.got("cluster-wide")).toEqual([[2]]);
    expect(b.got("cluster-wide")).toEqual([[2]]);
  });

  it("via(x).local stays on x", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    await pub.run(["via", "web-1"], ["local"], ["emit", "web-1-only", 3]);
    await flushed([a, b]);
    expect(a.got("web-1-only")).toEqual([[3]]);
    expect(b.got("web-1-only")).toEqual([]);
  });

  it("fetchSockets without via finds every socket once", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    const { value } = await pub.run(["fetchSockets"]);
    const ids = (value as { id: string }[]).map((s) => s.id).filter((id) => id === a.socket.id || id === b.socket.id);
    expect(ids.sort()).toEqual([a.socket.id, b.socket.id].sort());
  });
});
