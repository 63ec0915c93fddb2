import { TcpProxy, nextEvent, testSecret, until, withTimeout } from "@sfn/test-utils";
import type { DropInfo, LinkDownInfo, LinkUpInfo } from "../src/index.js";
import { Mesh, collect } from "./helpers.js";

const mesh = new Mesh();
const proxies: TcpProxy[] = [];
afterEach(async () => {
  await mesh.close();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

const proxyTo = async (port: number): Promise<TcpProxy> => {
  const p = await new TcpProxy(port).start();
  proxies.push(p);
  return p;
};

describe("reconnect", () => {
  it("comes back after the listening service restarts on the same port; old subscriptions work without user code", async () => {
    const first = mesh.channel("server");
    const { port, url } = await first.listen({ port: 0 });
    const client = mesh.channel("client");
    const got = collect(client, "greeting");
    await client.connect(url);
    await until(() => first.peers()[0]?.subscriptions === 1);
    first.publish("greeting", "before");
    await until(() => got.data.length === 1);

    const down = nextEvent<LinkDownInfo>(client, "link:down");
    await first.close();
    await down;

    const second = mesh.channel("server");
    const atServer = collect(second, "reply");
    const up = nextEvent<LinkUpInfo>(client, "link:up");
    await second.listen({ port });
    expect((await up).resumed).toBe(false);
    await until(() => second.peers()[0]?.subscriptions === 1);
    second.publish("greeting", "after");
    await until(() => got.data.length === 2);
    expect(got.data).toEqual(["before", "after"]);
    // And the restarted side's own subscriptions reach the client.
    await until(() => client.peers()[0]?.subscriptions === 1);
    client.publish("reply", "ok");
    await until(() => atServer.data.length === 1);
  });

  it("resumes a cut link: messages published while it was down arrive once, in order", async () => {
    const { ch: pub, port } = await mesh.listening("pub");
    const proxy = await proxyTo(port);
    const sub = mesh.channel("sub");
    const got = collect<number>(sub, "n");
    await sub.connect(proxy.url);
    await until(() => pub.peers()[0]?.subscriptions === 1);
    for (let i = 0; i < 100; i++) pub.publish("n", i);
    await until(() => got.data.length === 100);

    proxy.refuse(true);
    const down = nextEvent<LinkDownInfo>(sub, "link:down");
    proxy.cut();
    await down;
    for (let i = 100; i < 200; i++) pub.publish("n", i);
    expect(pub.peers()[0]?.pendingMessages).toBeGreaterThan(0);
    const up = nextEvent<LinkUpInfo>(sub, "link:up");
    proxy.refuse(false);
    expect((await up).resumed).toBe(true);
    await until(() => got.data.length >= 200);
    expect(got.data).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(pub.peers()[0]?.resumes).toBe(1);
  });

  it("detects a silent dead link with heartbeats and reconnects", async () => {
    // Only the dialler has a short timeout, so it is the side that must notice the silence.
    const { ch: one, port } = await mesh.listening("one");
    const proxy = await proxyTo(port);
    const two = mesh.channel("two", { heartbeat: { interval: 50, timeout: 200 } });
    await two.connect(proxy.url);
    proxy.blackhole(true);
    const down = await nextEvent<LinkDownInfo>(two, "link:down");
    expect(down.reason).toBe("heartbeat-timeout");
    proxy.blackhole(false);
    // The dialler's socket close goes through the proxy, so the listener sees the old connection
    // end and the session resumes on the new one (a stale connection the listener never saw end
    // is the half-open test below).
    expect((await nextEvent<LinkUpInfo>(two, "link:up")).resumed).toBe(true);
    await until(() => one.peers()[0]?.state === "up" && one.peers()[0]?.resumes === 1);
  });

  it("reports what a restarted peer will never get as a drop (reason peer-restarted)", async () => {
    const first = mesh.channel("server");
    const { port } = await first.listen({ port: 0 });
    const proxy = await proxyTo(port);
    first.subscribe("t", () => {});
    const client = mesh.channel("client");
    await client.connect(proxy.url);
    await until(() => client.peers()[0]?.subscriptions === 1);

    // The link is cut, the client keeps publishing for the server's subscription...
    proxy.refuse(true);
    const down = nextEvent(client, "link:down");
    proxy.cut();
    await down;
    for (let i = 0; i < 5; i++) client.publish("t", i);
    expect(client.peers()[0]?.pendingMessages).toBe(5);
    // ...and the server comes back as a new instance that never subscribed: nothing to resume.
    await first.close({ drainTimeout: 0 });
    const second = mesh.channel("server");
    await second.listen({ port });
    const drop = nextEvent<DropInfo>(client, "drop");
    proxy.refuse(false);
    expect(await drop).toEqual({ peer: "server", count: 5, reason: "peer-restarted" });
    expect(client.peers()[0]?.dropped).toEqual({ "peer-restarted": 5 });
  });

  it("a reconnect over a half-open connection supersedes the stale one, with proof of the session key", async () => {
    // The listener's heartbeat timeout is long: it never notices the old connection die.
    const { ch: one, port } = await mesh.listening("one", { secret: testSecret });
    const proxy = await proxyTo(port);
    const two = mesh.channel("two", { secret: testSecret, heartbeat: { interval: 50, timeout: 200 } });
    const got = collect<number>(two, "n");
    await two.connect(proxy.url);
    await until(() => one.peers()[0]?.subscriptions === 1);

    expect(proxy.halfOpen()).toBe(1);
    const down = await nextEvent<LinkDownInfo>(two, "link:down");
    expect(down.reason).toBe("heartbeat-timeout");
    // The listener still holds the old connection open, and publishes into it.
    expect(proxy.halfOpenAtTarget).toBe(1);
    expect(one.peers()[0]?.state).toBe("up");
    for (let i = 0; i < 5; i++) one.publish("n", i);
    const up = await nextEvent<LinkUpInfo>(two, "link:up");
    expect(up.resumed).toBe(true);
    // The listener closed the stale connection itself: the new one, proven, superseded it.
    await until(() => proxy.halfOpenAtTarget === 0);
    await until(() => got.data.length === 5);
    expect(got.data).toEqual([0, 1, 2, 3, 4]);
    expect(one.peers()[0]).toMatchObject({ state: "up", resumes: 1, dropped: {} });
  });

  it("a reconnect without proof is refused while the old connection is open, and its dialer retries until that one times out", async () => {
    const { ch: one, port } = await mesh.listening("one", { secret: testSecret, heartbeat: { interval: 100, timeout: 1500 } });
    const refusals: string[] = [];
    one.on("error", (e) => refusals.push(e.code));
    const proxy = await proxyTo(port);
    // The dialler notices fast and forgets its session fast: its next connection has no key to prove.
    const two = mesh.channel("two", { secret: testSecret, heartbeat: { interval: 50, timeout: 200 }, window: { resumeTimeout: 50 } });
    await two.connect(proxy.url);
    proxy.refuse(true);
    proxy.halfOpen();
    await nextEvent<LinkDownInfo>(two, "link:down");
    await until(() => two.peers().length === 0);
    const up = nextEvent<LinkUpInfo>(two, "link:up");
    proxy.refuse(false);
    // The listener's old connection is open as far as it knows: the newcomer is refused, not let in.
    await until(() => refusals.includes("ERR_DUPLICATE_ID"));
    expect(one.peers()[0]?.state).toBe("up");
    // Once the listener's heartbeat gives up on the old connection, a retry gets in (a new session).
    expect((await up).resumed).toBe(false);
    expect(one.peers().map((p) => [p.id, p.state])).toEqual([["two", "up"]]);
  });

  it("simultaneous dials (both sides connect to each other) converge to exactly one link", async () => {
    const a = mesh.channel("svc-a", { secret: testSecret });
    const b = mesh.channel("svc-b", { secret: testSecret });
    const toA = await proxyTo((await a.listen({ port: 0 })).port);
    const toB = await proxyTo((await b.listen({ port: 0 })).port);
    const atA = collect(a, "to-a");
    const atB = collect(b, "to-b");
    // Both connect() calls resolve, whichever connection carries the link.
    await Promise.all([a.connect(toB.url), b.connect(toA.url)]);
    await until(() => toA.forwarding + toB.forwarding === 1 && a.peers()[0]?.subscriptions === 1 && b.peers()[0]?.subscriptions === 1);
    expect(a.peers().map((p) => [p.id, p.state])).toEqual([["svc-b", "up"]]);
    expect(b.peers().map((p) => [p.id, p.state])).toEqual([["svc-a", "up"]]);
    a.publish("to-b", 1);
    b.publish("to-a", 2);
    await until(() => atA.data.length === 1 && atB.data.length === 1);
    expect([atA.data, atB.data]).toEqual([[2], [1]]);
    expect(toA.forwarding + toB.forwarding).toBe(1);
  });

  it("a second, proven dial between linked services takes over by the tie-break without losing the session", async () => {
    const a = mesh.channel("svc-a", { secret: testSecret });
    const b = mesh.channel("svc-b", { secret: testSecret });
    const toA = await proxyTo((await a.listen({ port: 0 })).port);
    const toB = await proxyTo((await b.listen({ port: 0 })).port);
    const got = collect<number>(b, "n");
    await b.connect(toA.url);
    await until(() => a.peers()[0]?.subscriptions === 1);
    for (let i = 0; i < 3; i++) a.publish("n", i);
    // svc-a dials too; the connection dialled by the smaller id wins on both sides, with proof.
    const moved = nextEvent<LinkUpInfo>(a, "link:up", (i) => i.direction === "outbound");
    await a.connect(toB.url);
    expect((await moved).resumed).toBe(true);
    await until(() => toA.forwarding === 0 && toB.forwarding === 1);
    for (let i = 3; i < 6; i++) a.publish("n", i);
    await until(() => got.data.length === 6);
    expect(got.data).toEqual([0, 1, 2, 3, 4, 5]);
    expect(a.peers()[0]).toMatchObject({ id: "svc-b", state: "up", dropped: {} });
  });
});

describe("close and disconnect (issue 10 B, D)", () => {
  it("two concurrent close() calls both resolve (the same promise), while peers still owe acknowledgements", async () => {
    const { ch: pub, port } = await mesh.listening("pub");
    const proxy = await proxyTo(port);
    const sub = mesh.channel("sub");
    collect(sub, "n");
    await sub.connect(proxy.url);
    await until(() => pub.peers()[0]?.subscriptions === 1);
    // Nothing is acknowledged any more: close has to wait out its drain timeout.
    proxy.halfOpen();
    pub.publish("n", 1);
    const first = pub.close({ drainTimeout: 100 });
    const second = pub.close({ drainTimeout: 100 });
    expect(second).toBe(first);
    await withTimeout(Promise.all([first, second]), 10_000, "both close() calls");
    expect(pub.isClosed).toBe(true);
  });

  it("close() returns as soon as the peers acknowledged everything (no polling)", async () => {
    const { ch: pub, url } = await mesh.listening("pub");
    const sub = mesh.channel("sub");
    const got = collect(sub, "n");
    await sub.connect(url);
    await until(() => pub.peers()[0]?.subscriptions === 1);
    for (let i = 0; i < 100; i++) pub.publish("n", i);
    // A long drain timeout: resolving at all before the test timeout means the last ACK ended the wait.
    await withTimeout(pub.close({ drainTimeout: 60_000 }), 10_000, "close");
    expect(got.data).toHaveLength(100);
  });

  it("after the peer disconnects this service, connect(url) links again", async () => {
    const { ch: hub, url } = await mesh.listening("hub");
    const worker = mesh.channel("worker");
    await worker.connect(url);
    const down = nextEvent<LinkDownInfo>(worker, "link:down");
    await hub.disconnect("worker");
    expect((await down).reason).toBe("peer-disconnected");
    await worker.connect(url);
    expect(worker.peers().map((p) => [p.id, p.state])).toEqual([["hub", "up"]]);
  });
});
