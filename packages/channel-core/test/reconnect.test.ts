import { TcpProxy, nextEvent, until } from "@sfn/test-utils";
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
    // The listener has not noticed yet; the dialler's new connection replaces the stale one.
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
});
