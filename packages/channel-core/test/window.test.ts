import { TcpProxy, nextEvent, testSecret, until } from "@sfn/test-utils";
import {
  ErrorCode,
  type ChannelError,
  type DropInfo,
  type LinkDownInfo,
  type MessageChannel,
  type MessageChannelOptions,
} from "../src/index.js";
import { encodeControl } from "../src/protocol/codec.js";
import { FrameType } from "../src/protocol/frames.js";
import { Mesh, collect } from "./helpers.js";
import { RawClient } from "./raw-client.js";

const mesh = new Mesh();
const proxies: TcpProxy[] = [];
afterEach(async () => {
  await mesh.close();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** pub listens; sub dials it through a proxy and subscribes to `topic`; returns all three. */
async function linked(topic: string, pubOptions: Partial<MessageChannelOptions> = {}) {
  const { ch: pub, port, url } = await mesh.listening("pub", pubOptions);
  const proxy = await new TcpProxy(port).start();
  proxies.push(proxy);
  const sub = mesh.channel("sub");
  const got = collect<number>(sub, topic);
  await sub.connect(proxy.url);
  // connect() resolves once the dialler knows the acceptor's subscriptions; wait for the reverse.
  await until(() => pub.peers()[0]?.subscriptions === 1);
  return { pub, sub, proxy, got, url };
}

async function cut(proxy: TcpProxy, ch: MessageChannel): Promise<void> {
  proxy.refuse(true);
  const down = nextEvent<LinkDownInfo>(ch, "link:down");
  proxy.cut();
  await down;
}

describe("resume window bounds", () => {
  it("keeps at most maxMessages for a down link, reports the rest as window-full, and delivers what it kept", async () => {
    const { pub, proxy, got } = await linked("n", { window: { maxMessages: 10 } });
    await cut(proxy, pub);
    const drops: DropInfo[] = [];
    pub.on("drop", (d) => drops.push(d));
    const results = Array.from({ length: 15 }, (_, i) => pub.publish("n", i));
    // Advisory from half full on, as with stream.write.
    expect(results.indexOf(false)).toBe(4);
    await until(() => drops.length > 0);
    expect(drops).toEqual([{ peer: "sub", count: 5, reason: "window-full" }]);
    expect(pub.peers()[0]).toMatchObject({ pendingMessages: 10, dropped: { "window-full": 5 } });
    const drained = nextEvent(pub, "drain");
    proxy.refuse(false);
    await until(() => got.data.length === 10);
    expect(got.data).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await drained;
  });

  it("bounds the window in bytes too", async () => {
    const { pub, proxy } = await linked("n", { window: { maxBytes: 10_000 } });
    await cut(proxy, pub);
    const drop = nextEvent<DropInfo>(pub, "drop");
    for (let i = 0; i < 20; i++) pub.publish("n", "x".repeat(1000));
    expect((await drop).reason).toBe("window-full");
    expect(pub.peers()[0]!.pendingBytes).toBeLessThanOrEqual(10_000);
  });

  it("never keeps volatile messages: on a down link they are dropped and reported", async () => {
    const { pub, proxy, got } = await linked("n");
    pub.publish("n", 1, { volatile: true });
    await until(() => got.data.length === 1);
    await cut(proxy, pub);
    const drop = nextEvent<DropInfo>(pub, "drop");
    pub.publish("n", 2, { volatile: true });
    pub.publish("n", 3);
    expect(await drop).toEqual({ peer: "sub", count: 1, reason: "volatile" });
    proxy.refuse(false);
    await until(() => got.data.length === 2);
    expect(got.data).toEqual([1, 3]);
  });

  it("sends a volatile publish right behind a normal one of the same tick, after it, and returns true", async () => {
    const { pub, got } = await linked("n");
    const drops: DropInfo[] = [];
    pub.on("drop", (d) => drops.push(d));
    // The README's pattern: a normal message, then a volatile one, in the same tick.
    expect(pub.publish("n", 1)).toBe(true);
    expect(pub.publish("n", 2, { volatile: true })).toBe(true);
    expect(pub.publish("n", 3, { volatile: true })).toBe(true);
    await until(() => got.data.length === 3);
    expect(got.data).toEqual([1, 2, 3]);
    // A later message proves nothing else was queued or dropped meanwhile.
    pub.publish("n", 4);
    await until(() => got.data.length === 4);
    expect(drops).toEqual([]);
    expect(pub.peers()[0]!.dropped).toEqual({});
  });

  it("a volatile publish that cannot go out returns false, is reported, and drain follows once the link can take it", async () => {
    const { pub, proxy, got } = await linked("n");
    await cut(proxy, pub);
    const drop = nextEvent<DropInfo>(pub, "drop");
    expect(pub.publish("n", 1, { volatile: true })).toBe(false);
    expect(await drop).toEqual({ peer: "sub", count: 1, reason: "volatile" });
    const drained = nextEvent(pub, "drain");
    proxy.refuse(false);
    await drained;
    expect(pub.peers()[0]!.state).toBe("up");
    expect(pub.publish("n", 2, { volatile: true })).toBe(true);
    await until(() => got.data.length === 1);
    expect(got.data).toEqual([2]);
  });

  it("paces a burst of volatile publishes with false/drain instead of failing the link on its own control queue", async () => {
    const { pub, got } = await linked("n");
    const errors: ChannelError[] = [];
    const drops: DropInfo[] = [];
    pub.on("error", (e) => errors.push(e));
    pub.on("drop", (d) => drops.push(d));
    let sent = 0;
    // About 5 MB in one tick: far more than the 1 MiB control queue holds.
    while (sent < 5000 && pub.publish("n", Buffer.alloc(1000), { volatile: true })) sent++;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(5000);
    await nextEvent(pub, "drain");
    await until(() => got.data.length === sent);
    await until(() => drops.length > 0);
    expect(drops).toEqual([{ peer: "sub", count: 1, reason: "volatile" }]);
    expect(errors).toEqual([]);
    expect(pub.peers()[0]).toMatchObject({ state: "up", resumes: 0 });
    // And it goes on after drain.
    expect(pub.publish("n", Buffer.alloc(10), { volatile: true })).toBe(true);
    await until(() => got.data.length === sent + 1);
  });

  it("a publisher blocked on a congested link gets drain when that peer comes back as a new instance", async () => {
    const { pub, sub, proxy, url } = await linked("n", { window: { maxMessages: 10 } });
    await cut(proxy, pub);
    for (let i = 0; i < 6; i++) pub.publish("n", i);
    expect(pub.publish("n", 6)).toBe(false);
    const drained = nextEvent(pub, "drain");
    const lost = nextEvent<DropInfo>(pub, "drop", (d) => d.reason === "peer-restarted");
    // The subscriber "restarts": its old instance is gone without a goodbye, a new one dials in.
    await sub.close({ drainTimeout: 0 });
    const again = mesh.channel("sub");
    collect(again, "n");
    await again.connect(url);
    await drained;
    expect(await lost).toEqual({ peer: "sub", count: 7, reason: "peer-restarted" });
  });

  it("reports what was waiting for a peer when it is disconnected for good", async () => {
    const { pub, sub, proxy } = await linked("n");
    await cut(proxy, pub);
    for (let i = 0; i < 7; i++) pub.publish("n", i);
    const drop = nextEvent<DropInfo>(pub, "drop");
    await pub.disconnect("sub");
    expect(await drop).toEqual({ peer: "sub", count: 7, reason: "disconnected" });
    expect(pub.peers()).toEqual([]);
    void sub;
  });

  it("reports what was waiting when the peer stays away past resumeTimeout (peer-gone)", async () => {
    const { pub, proxy } = await linked("n", { window: { resumeTimeout: 200 } });
    await cut(proxy, pub);
    for (let i = 0; i < 3; i++) pub.publish("n", i);
    expect(await nextEvent<DropInfo>(pub, "drop")).toEqual({ peer: "sub", count: 3, reason: "peer-gone" });
    expect(pub.peers()).toEqual([]);
  });
});

describe("a subscriber that stops reading", () => {
  it("is detected: no acknowledgement for heartbeat.timeout closes the link with ERR_SLOW_PEER", async () => {
    const { ch: pub, url } = await mesh.listening("pub", { secret: testSecret, heartbeat: { interval: 50, timeout: 300 } });
    const errors: ChannelError[] = [];
    pub.on("error", (e) => errors.push(e));
    const raw = await RawClient.open(url);
    await raw.handshake("zombie", testSecret);
    // It talks (so heartbeats see it alive) and subscribes, but never acknowledges anything.
    raw.send(Buffer.from([0x93, 0x05, 0xce, 0, 0, 0, 2, 0x91, 0xa1, 0x6e]));
    const keepAlive = setInterval(() => raw.send(encodeControl({ type: FrameType.PING })), 50);
    try {
      await until(() => pub.peers()[0]?.subscriptions === 1);
      const down = nextEvent<LinkDownInfo>(pub, "link:down");
      pub.publish("n", 1);
      const info = await down;
      expect(info.reason).toBe("stalled");
      expect(info.error?.code).toBe(ErrorCode.SLOW_PEER);
      await until(() => errors.some((e) => e.code === ErrorCode.SLOW_PEER));
    } finally {
      clearInterval(keepAlive);
      raw.ws.terminate();
    }
  });
});
