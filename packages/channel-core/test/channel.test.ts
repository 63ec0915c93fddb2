import { createServer } from "node:http";
import { once } from "node:events";
import { WebSocket } from "ws";
import { nextEvent, until } from "@sfn/test-utils";
import { ErrorCode, type MessageChannel, type ChannelError, type DropInfo } from "../src/index.js";
import { Mesh, collect } from "./helpers.js";

const mesh = new Mesh();
afterEach(() => mesh.close());

/** Resolves once `ch` knows that `peer` subscribed to `pattern`-many patterns. */
const subscribed = (ch: MessageChannel, peer: string, n = 1) =>
  until(() => (ch.peers().find((p) => p.id === peer)?.subscriptions ?? 0) >= n, 10000, `${peer} subscriptions`);

describe("MessageChannel: the seed example", () => {
  it("rpc-server-2 connects to rpc-server-1 and receives its greeting; local subscribers get it too", async () => {
    const { ch: one, url } = await mesh.listening("rpc-server-1");
    const two = mesh.channel("rpc-server-2");
    const atTwo = collect<string>(two, "greeting");
    const atOne = collect<string>(one, "greeting");
    await two.connect(url);
    await subscribed(one, "rpc-server-2");

    one.publish("greeting", "Hello, World!");
    await until(() => atTwo.data.length === 1);
    expect(atTwo).toEqual({ data: ["Hello, World!"], from: ["rpc-server-1"] });
    expect(atOne).toEqual({ data: ["Hello, World!"], from: ["rpc-server-1"] });
  });

  it("links are symmetric: the dialled service publishes to the dialler too", async () => {
    const { ch: one, url } = await mesh.listening("rpc-server-1");
    const two = mesh.channel("rpc-server-2");
    const atOne = collect<string>(one, "greeting");
    await two.connect(url);
    await subscribed(two, "rpc-server-1");
    two.publish("greeting", "back at you");
    await until(() => atOne.data.length === 1);
    expect(atOne.from).toEqual(["rpc-server-2"]);
  });

  it("a service not linked to the publisher does not receive its messages", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    const { ch: three, url: url3 } = await mesh.listening("three");
    const atThree = collect(three, "news");
    const atTwo = collect(two, "news");
    await two.connect(url);
    await two.connect(url3);
    await subscribed(one, "two");
    one.publish("news", 1);
    await until(() => atTwo.data.length === 1);
    // three is linked to two, not to one: no relaying in a brokerless mesh.
    two.publish("news", 2);
    await until(() => atThree.data.length === 1);
    expect(atThree.data).toEqual([2]);
  });
});

describe("routing", () => {
  it("is interest-aware: nothing crosses a link for a topic the peer did not subscribe to", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    collect(two, "wanted");
    await two.connect(url);
    await subscribed(one, "two");
    for (let i = 0; i < 100; i++) one.publish("unwanted", i);
    one.publish("wanted", "x");
    await until(() => (two.peers()[0]?.received ?? 0) === 1);
    expect(one.peers()[0]?.sent).toBe(1);
  });

  it("stops sending after the peer unsubscribes", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    const got = collect(two, "t");
    await two.connect(url);
    await subscribed(one, "two");
    one.publish("t", 1);
    await until(() => got.data.length === 1);
    two.unsubscribe("t");
    await until(() => one.peers()[0]?.subscriptions === 0);
    one.publish("t", 2);
    expect(one.peers()[0]?.sent).toBe(1);
  });

  it("delivers targeted publishes only to the named services", async () => {
    const { ch: hub, url } = await mesh.listening("hub");
    const a = mesh.channel("a");
    const b = mesh.channel("b");
    const atA = collect(a, "job");
    const atB = collect(b, "job");
    const atHub = collect(hub, "job");
    await Promise.all([a.connect(url), b.connect(url)]);
    await subscribed(hub, "a");
    await subscribed(hub, "b");
    hub.publish("job", "for-b", { to: "b" });
    hub.publish("job", "for-all");
    await until(() => atA.data.length === 1 && atB.data.length === 2);
    expect(atA.data).toEqual(["for-all"]);
    expect(atB.data).toEqual(["for-b", "for-all"]);
    expect(atHub.data).toEqual(["for-all"]);
  });

  it("reports a targeted publish to a service with no link as a drop", async () => {
    const { ch } = await mesh.listening("alone");
    const drop = nextEvent<DropInfo>(ch, "drop");
    ch.publish("t", 1, { to: "ghost" });
    expect(await drop).toEqual({ peer: "ghost", count: 1, reason: "no-link" });
  });

  it("matches wildcard subscriptions across a link (* one token, > the rest)", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    const star = collect(two, "orders.*.created");
    const tail = collect(two, "orders.>");
    await two.connect(url);
    await subscribed(one, "two", 2);
    one.publish("orders.eu.created", 1);
    one.publish("orders.eu.deleted", 2);
    one.publish("orders", 3);
    await until(() => tail.data.length === 2);
    expect(star.data).toEqual([1]);
    expect(tail.data).toEqual([1, 2]);
    // One frame per message even when two patterns match.
    expect(one.peers()[0]?.sent).toBe(2);
  });

  it("refuses user topics under the reserved prefix", async () => {
    const ch = mesh.channel("x");
    expect(() => ch.publish("$sfn.ws.emit", 1)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_TOPIC }));
    expect(() => ch.subscribe("$sfn.>", () => {})).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_TOPIC }));
  });
});

describe("payloads", () => {
  it("Buffer, Uint8Array, Date, Map, Set and bigint arrive as they left", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    const got = collect<Record<string, unknown>>(two, "types");
    await two.connect(url);
    await subscribed(one, "two");
    const payload = {
      buf: Buffer.from("bytes"),
      u8: new Uint8Array([1, 2, 3]),
      date: new Date("2026-11-25T12:00:00Z"),
      map: new Map<unknown, unknown>([
        ["a", 1],
        [2, { b: true }],
      ]),
      set: new Set(["x", 1]),
      big: 2n ** 70n,
      obj: { nested: [1, "two", null] },
    };
    one.publish("types", payload);
    await until(() => got.data.length === 1);
    const d = got.data[0]!;
    expect(d).toEqual(payload);
    expect(Buffer.isBuffer(d.buf)).toBe(true);
    expect(d.u8).toBeInstanceOf(Uint8Array);
    expect(d.date).toBeInstanceOf(Date);
    expect(d.map).toBeInstanceOf(Map);
    expect(d.set).toBeInstanceOf(Set);
    expect(d.big).toBe(2n ** 70n);
  });

  it("enforces maxFrameSize on receive: an oversize message closes that link with ERR_FRAME_TOO_LARGE", async () => {
    const { ch: small, url } = await mesh.listening("small", { maxFrameSize: 64 * 1024 });
    const big = mesh.channel("big", { maxFrameSize: 4 * 1024 * 1024 });
    await big.connect(url);
    // Bypass the sender's own check with a raw client speaking garbage of the wrong size.
    const errors: ChannelError[] = [];
    small.on("error", (e) => errors.push(e));
    const ws = new WebSocket(url);
    await once(ws, "open");
    ws.send(Buffer.alloc(100 * 1024));
    await once(ws, "close");
    await until(() => errors.some((e) => e.code === ErrorCode.FRAME_TOO_LARGE));
    // The other link is untouched.
    expect(small.peers().map((p) => [p.id, p.state])).toEqual([["big", "up"]]);
  });

  it("refuses to publish a message over its own maxFrameSize with a PayloadError", async () => {
    const { ch: one, url } = await mesh.listening("one", { maxFrameSize: 1024 });
    const two = mesh.channel("two");
    collect(two, "t");
    await two.connect(url);
    await subscribed(one, "two");
    expect(() => one.publish("t", "x".repeat(2000))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
  });
});

describe("subscribers", () => {
  it("a throwing or rejecting subscriber is reported and harms no other subscriber or the link", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    const errors: ChannelError[] = [];
    two.on("error", (e) => errors.push(e));
    two.subscribe("t", () => {
      throw new Error("boom");
    });
    two.subscribe("t", async () => {
      throw new Error("async boom");
    });
    const got = collect(two, "t");
    await two.connect(url);
    await subscribed(one, "two");
    one.publish("t", 1);
    one.publish("t", 2);
    await until(() => got.data.length === 2 && errors.length === 4);
    expect(errors.map((e) => e.code)).toEqual(Array(4).fill(ErrorCode.SUBSCRIBER));
    expect(errors.map((e) => (e.cause as Error).message).sort()).toEqual(["async boom", "async boom", "boom", "boom"]);
    expect(two.peers()[0]?.state).toBe("up");
  });

  it("unsubscribe functions remove just their listener", async () => {
    const ch = mesh.channel("solo");
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = ch.subscribe("t", (d) => a.push(d));
    ch.subscribe("t", (d) => b.push(d));
    ch.publish("t", 1);
    offA();
    ch.publish("t", 2);
    expect(a).toEqual([1]);
    expect(b).toEqual([1, 2]);
  });
});

describe("listen, connect, disconnect, close", () => {
  it("shares an existing http.Server on a path, leaving its other requests alone", async () => {
    const server = createServer((_req, res) => res.end("plain http"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const one = mesh.channel("one");
      const addr = await one.listen({ server, path: "/mesh" });
      expect(addr.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mesh$/);
      const two = mesh.channel("two");
      const got = collect(two, "t");
      await two.connect(addr.url);
      await subscribed(one, "two");
      one.publish("t", "via shared server");
      await until(() => got.data.length === 1);
      const res = await fetch(`http://127.0.0.1:${addr.port}/`);
      expect(await res.text()).toBe("plain http");
    } finally {
      await mesh.close();
      await new Promise((r) => server.close(r));
    }
  });

  it("accepts links on a shared http.Server that starts listening after listen() was called", async () => {
    const server = createServer();
    const one = mesh.channel("one");
    const addr = await one.listen({ server, path: "/late" });
    expect(addr.url).toBe("");
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      expect(addr.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/late$/);
      const two = mesh.channel("two");
      await two.connect(addr.url);
      expect(two.peers()[0]?.id).toBe("one");
    } finally {
      await mesh.close();
      await new Promise((r) => server.close(r));
    }
  });

  it("connect rejects with ERR_CONNECT when nothing answers in time", async () => {
    const ch = mesh.channel("lonely");
    await expect(ch.connect("ws://127.0.0.1:9/", { timeout: 300 })).rejects.toMatchObject({ code: ErrorCode.CONNECT });
  });

  it("connect rejects at once with ERR_INVALID_OPTION for a URL no retry can dial", async () => {
    const ch = mesh.channel("typo");
    // A generous timeout: before the fix each of these waited for it, then said ERR_CONNECT.
    for (const url of ["127.0.0.1:4100", "not a url", "ftp://127.0.0.1:4100/", "ws://127.0.0.1:4100/#frag"]) {
      await expect(ch.connect(url, { timeout: 2000 })).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTION });
    }
    expect(ch.peers()).toEqual([]);
  });

  it("disconnect ends the link for good on both sides", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    await two.connect(url);
    const down = nextEvent<{ reason: string }>(one, "link:down");
    await two.disconnect("one");
    expect((await down).reason).toBe("peer-disconnected");
    expect(two.peers()).toEqual([]);
    await until(() => one.peers().length === 0);
  });

  it("close ends every link and server and rejects later calls", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    await two.connect(url);
    const down = nextEvent<{ reason: string }>(two, "link:down");
    await one.close();
    expect((await down).reason).toBe("peer-closed");
    expect(() => one.publish("t", 1)).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
    await expect(fetch(url.replace("ws:", "http:"))).rejects.toThrow();
  });
});

describe("large subscription states", () => {
  it("restores thousands of long patterns in frames below maxFrameSize", async () => {
    const { ch: one, url } = await mesh.listening("one", { maxFrameSize: 64 * 1024 });
    const two = mesh.channel("two", { maxFrameSize: 64 * 1024 });
    for (let i = 0; i < 2000; i++) two.subscribe(`${"x".repeat(900)}.${i}`, () => {});
    await two.connect(url);
    expect(one.peers()[0]?.subscriptions).toBe(2000);
  });
});

describe("link readiness", () => {
  it("connect resolves only once the peer's subscriptions are known, so an immediate publish reaches them", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const got = collect(one, "hello");
    const two = mesh.channel("two");
    await two.connect(url);
    expect(two.peers()[0]?.subscriptions).toBe(1);
    two.publish("hello", "first message");
    await until(() => got.data.length === 1);
    expect(got.data).toEqual(["first message"]);
  });

  it("when connect resolves, the listening side knows the dialler's subscriptions too", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    const got = collect(two, "news");
    await two.connect(url);
    expect(one.peers()[0]?.subscriptions).toBe(1);
    one.publish("news", "right away");
    await until(() => got.data.length === 1);
  });
});
