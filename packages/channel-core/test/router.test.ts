import { ErrorCode, MeshRouter, MessageChannel, PayloadError } from "../src/index.js";
import {
  decodeMessageBody,
  encodeMessageBody,
  packValue,
  type RoutePublishOptions,
  type Router,
  type RouterHost,
} from "../src/internal.js";

/** A router that records what the channel asks of it. */
class RecordingRouter implements Router {
  host!: RouterHost;
  readonly calls: string[] = [];
  readonly published: { topic: string; body: Buffer; options: RoutePublishOptions }[] = [];
  limit = Infinity;

  attach(host: RouterHost): void {
    this.host = host;
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
  interest(change: "sub" | "unsub", pattern: string): void {
    this.calls.push(`${change} ${pattern}`);
  }
  checkPayload(topic: string, body: Buffer): void {
    if (body.length > this.limit) throw new PayloadError(`too big for ${topic}`);
  }
  publish(topic: string, body: Buffer, options: RoutePublishOptions): boolean {
    this.published.push({ topic, body, options });
    return true;
  }
  servers(topic: string): string[] {
    return topic === "$sfn.ws.op" ? ["front-1"] : [];
  }
  peers() {
    return [];
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  async close(): Promise<void> {
    this.calls.push("close");
  }
}

const channels: MessageChannel[] = [];
afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.close()));
});

function withRouter(router: Router = new RecordingRouter()): MessageChannel {
  const ch = new MessageChannel({ id: "svc", router });
  ch.on("error", () => {});
  channels.push(ch);
  return ch;
}

describe("MessageChannel over a router of its own", () => {
  it("listen, connect and disconnect throw InvalidOptionError: only the mesh links by URL", async () => {
    const ch = withRouter();
    const invalid = expect.objectContaining({ code: ErrorCode.INVALID_OPTION });
    await expect(ch.listen({ port: 0 })).rejects.toEqual(invalid);
    await expect(ch.connect("ws://127.0.0.1:1")).rejects.toEqual(invalid);
    await expect(ch.disconnect("x")).rejects.toEqual(invalid);
  });

  it("refuses mesh options next to a router instead of ignoring them", () => {
    expect(() => new MessageChannel({ id: "svc", router: new RecordingRouter(), secret: "x".repeat(32), window: {} })).toThrow(
      /secret, window: options of the mesh router/,
    );
  });

  it("a router serves one channel", () => {
    const mesh = new MeshRouter();
    withRouter(mesh);
    expect(() => withRouter(mesh)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }));
  });

  it("tells the router about the first listener of a pattern and the last one leaving, once each", () => {
    const router = new RecordingRouter();
    const ch = withRouter(router);
    const off1 = ch.subscribe("a.*", () => {});
    const off2 = ch.subscribe("a.*", () => {});
    ch.subscribe("b", () => {});
    off1();
    off2();
    ch.unsubscribe("b");
    expect(router.calls).toEqual(["sub a.*", "sub b", "unsub a.*", "unsub b"]);
  });

  it("hands the router the encoded body, `to` without this service, and never this service's own copy", () => {
    const router = new RecordingRouter();
    const ch = withRouter(router);
    const local: unknown[] = [];
    ch.subscribe("t", (d) => void local.push(d));
    ch.publish("t", { n: 1 }, { to: ["svc", "other"], volatile: true });
    ch.publish("t", 2, { to: "svc" });
    ch.publish("t", 3);
    expect(local).toEqual([{ n: 1 }, 2, 3]);
    expect(router.published.map((p) => [p.topic, p.options.to && [...p.options.to], p.options.volatile])).toEqual([
      ["t", ["other"], true],
      // Only this service named: the router gets an empty set (nobody), not "everyone".
      ["t", [], undefined],
      ["t", undefined, undefined],
    ]);
    expect(decodeMessageBody(router.published[0]!.body)).toEqual({ topic: "t", data: { n: 1 } });
  });

  it("a router's own encode makes the body that checkPayload and publish get, told where the message goes", () => {
    class FramingRouter extends RecordingRouter {
      readonly encoded: [string, unknown, RoutePublishOptions][] = [];
      encode(topic: string, data: unknown, options: RoutePublishOptions): Buffer {
        this.encoded.push([topic, data, options]);
        if (data === "refused") throw new PayloadError("no");
        return encodeMessageBody(topic, data, Buffer.from([0xee]));
      }
    }
    const router = new FramingRouter();
    router.limit = 20;
    const ch = withRouter(router);
    ch.publish("t", 1);
    ch.publish("t", 2, { to: ["svc", "other"] });
    expect(router.encoded.map(([t, d, o]) => [t, d, o.to && [...o.to]])).toEqual([
      ["t", 1, undefined],
      ["t", 2, ["other"]],
    ]);
    expect(router.published.map((p) => [p.body[0], decodeMessageBody(p.body.subarray(1)).data, p.options])).toEqual([
      [0xee, 1, router.encoded[0]![2]],
      [0xee, 2, router.encoded[1]![2]],
    ]);
    // Refused by encode or by checkPayload (the limit counts what encode made): nothing happens.
    const local: unknown[] = [];
    ch.subscribe("t", (d) => void local.push(d));
    expect(() => ch.publish("t", "refused")).toThrow(PayloadError);
    expect(encodeMessageBody("t", "x".repeat(17)).length).toBe(router.limit);
    expect(() => ch.publish("t", "x".repeat(17))).toThrow(PayloadError);
    expect([local, router.published.length]).toEqual([[], 2]);
  });

  it("a payload the router refuses throws before local delivery", () => {
    const router = new RecordingRouter();
    router.limit = 10;
    const ch = withRouter(router);
    const local: unknown[] = [];
    ch.subscribe("t", (d) => void local.push(d));
    expect(() => ch.publish("t", "x".repeat(100))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    expect([local, router.published]).toEqual([[], []]);
  });

  it("deliver with a pattern reaches only that pattern's listeners (a transport that delivers once per subscription)", () => {
    const router = new RecordingRouter();
    const ch = withRouter(router);
    const got: string[] = [];
    ch.subscribe("a.*", (_, m) => void got.push(m.pattern));
    ch.subscribe("a.>", (_, m) => void got.push(m.pattern));
    router.host.deliver("a.b", 1, "peer", "a.>");
    router.host.deliver("a.b", 1, "peer");
    expect(got).toEqual(["a.>", "a.*", "a.>"]);
  });

  it("events come from the router: link:up/down, drain, and drops batched per peer and reason", async () => {
    const router = new RecordingRouter();
    const ch = withRouter(router);
    const events: unknown[] = [];
    ch.on("link:up", (i) => events.push(["up", i.peer]));
    ch.on("link:down", (i) => events.push(["down", i.peer, i.reason]));
    ch.on("drain", () => events.push(["drain"]));
    const drop = new Promise((r) => ch.once("drop", r));
    router.host.linkUp({ peer: "p", resumed: false, direction: "outbound", url: undefined });
    router.host.drop("p", 2, "window-full");
    router.host.drop("p", 3, "window-full");
    router.host.drained();
    router.host.linkDown({ peer: "p", reason: "heartbeat-timeout", error: undefined });
    expect(await drop).toEqual({ peer: "p", count: 5, reason: "window-full" });
    expect(events).toEqual([["up", "p"], ["drain"], ["down", "p", "heartbeat-timeout"]]);
  });

  it("servers(topic) is this service if it listens, then the router's", async () => {
    const { internals } = await import("../src/internal.js");
    const ch = withRouter();
    expect(internals(ch).servers("$sfn.ws.op")).toEqual(["front-1"]);
    internals(ch).subscribe("$sfn.ws.op", () => {});
    expect(internals(ch).servers("$sfn.ws.op")).toEqual(["svc", "front-1"]);
  });

  it("ready() is the router's; close() drains, then closes it", async () => {
    const router = new RecordingRouter();
    const ch = withRouter(router);
    await expect(ch.ready()).resolves.toBeUndefined();
    await ch.close();
    expect(router.calls).toEqual(["close"]);
  });
});

describe("decodeMessageBody", () => {
  it("gives back what encodeMessageBody packed", () => {
    const data = { map: new Map([[1, "a"]]), buf: Buffer.from("x"), big: 2n ** 70n };
    expect(decodeMessageBody(encodeMessageBody("a.b", data))).toEqual({ topic: "a.b", data });
  });

  it("refuses bytes that are not a message body, with ERR_MALFORMED_FRAME", () => {
    const malformed = expect.objectContaining({ code: ErrorCode.MALFORMED_FRAME });
    expect(() => decodeMessageBody(Buffer.alloc(0))).toThrow(malformed);
    expect(() => decodeMessageBody(Buffer.from([0xc1]))).toThrow(malformed);
    expect(() => decodeMessageBody(packValue(42))).toThrow(malformed);
    expect(() => decodeMessageBody(Buffer.concat([packValue("t"), packValue(1), packValue(2)]))).toThrow(malformed);
  });

  it("refuses what the value allow-list refuses (an unknown extension), before msgpackr decodes it", () => {
    // fixext1 with extension type 0x2a: not on the allow-list.
    const body = Buffer.concat([packValue("t"), Buffer.from([0xd4, 0x2a, 0x00])]);
    expect(() => decodeMessageBody(body)).toThrow(/refused/);
  });
});
