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
  // The Redis adapter forgets a cluster-wide ack request only when its timeout has passed (a bare timer).
  const pendingAcks = (fe: FrontEnd): number =>
    (fe.io.of("/").adapter as unknown as { ackRequests: Map<string, unknown> }).ackRequests.size;
  await until(() => pendingAcks(web1) + pendingAcks(web2) === 0, 10_000, "the Redis adapter's ack requests expired");
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

  it("fetchSockets with via(x) finds x's whole cluster; only x's own sockets are labelled x (the others' server has no name)", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    const servers = async (...chain: unknown[][]): Promise<Record<string, unknown>> => {
      const { value } = await pub.run(...(chain as never[]), ["fetchSockets"]);
      const mine = (value as { id: string; server?: string }[]).filter((s) => s.id === a.socket.id || s.id === b.socket.id);
      return Object.fromEntries(mine.map((s) => [s.id === a.socket.id ? "a" : "b", s.server]));
    };
    expect(await servers()).toEqual({ a: "web-1", b: "web-2" });
    expect(await servers(["via", "web-1"])).toEqual({ a: "web-1", b: undefined });
    expect(await servers(["via", "web-1"], ["local"])).toEqual({ a: "web-1" });
  });

  // Socket.IO's own io.local.timeout(t).emit(ev, cb) waits for every server of the cluster and never completes here.
  it("emitWithAck without via completes with every client's answer, each front end answering for its own clients", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    const { value, error } = await pub.run(["timeout", 5000], ["emitWithAck", "vote?", 1]);
    expect(error).toBeUndefined();
    expect((value as string[]).sort()).toEqual([`${a.socket.id}:1`, `${b.socket.id}:1`].sort());
  });

  it("emitWithAck with via(x).local completes with x's own clients' answers", async () => {
    const [a] = [await client(web1), await client(web2)];
    const { value, error } = await pub.run(["via", "web-1"], ["local"], ["timeout", 5000], ["emitWithAck", "vote?", 2]);
    expect(error).toBeUndefined();
    expect(value).toEqual([`${a.socket.id}:2`]);
  });

  it("emitWithAck with via(x) gathers the answers of x's whole cluster", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    const { value, error } = await pub.run(["via", "web-1"], ["timeout", 1000], ["emitWithAck", "vote?", 3]);
    expect(error).toBeUndefined();
    expect((value as string[]).sort()).toEqual([`${a.socket.id}:3`, `${b.socket.id}:3`].sort());
  });

  it("emitWithAck without via still reports the front end whose client did not answer", async () => {
    await client(web1);
    const silent = await connect(web2.port, "/", { silent: true });
    clients.push(silent);
    const { error } = await pub.run(["timeout", 300], ["emitWithAck", "vote?", 4]);
    expect(error).toMatchObject({ code: "ERR_WS_TIMEOUT", answered: ["web-1"], missing: ["web-2"], received: 1 });
  });
});
