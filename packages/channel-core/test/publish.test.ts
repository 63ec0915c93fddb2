import { nextEvent, until } from "@sfn/test-utils";
import { ErrorCode, type ChannelError, type DropInfo, type MessageChannelOptions } from "../src/index.js";
import { Mesh, collect } from "./helpers.js";

const mesh = new Mesh();
afterEach(() => mesh.close());

const payloadError = expect.objectContaining({ code: ErrorCode.PAYLOAD });

describe("publish checks and encodes first: a payload that fails has no side effect, whoever subscribes", () => {
  it("an over-size payload throws ERR_PAYLOAD with no peer at all, before any local subscriber sees it", () => {
    const ch = mesh.channel("solo", { maxFrameSize: 1024 });
    const got = collect(ch, "big");
    expect(() => ch.publish("big", "x".repeat(2000))).toThrow(payloadError);
    expect(got.data).toEqual([]);
    ch.publish("big", "small");
    expect(got.data).toEqual(["small"]);
  });

  it("a payload peers would refuse (an Error, a RegExp) throws ERR_PAYLOAD before local delivery", () => {
    const ch = mesh.channel("solo");
    const got = collect(ch, "odd");
    expect(() => ch.publish("odd", new Error("no"))).toThrow(payloadError);
    expect(() => ch.publish("odd", { re: /x/ })).toThrow(payloadError);
    expect(got.data).toEqual([]);
  });

  it("a failed targeted publish reports no no-link drop", async () => {
    const ch = mesh.channel("solo", { maxFrameSize: 1024 });
    const drops: DropInfo[] = [];
    ch.on("drop", (d) => drops.push(d));
    expect(() => ch.publish("big", "x".repeat(2000), { to: ["ghost"] })).toThrow(payloadError);
    // Drops are reported in batches; this one is in the same batch as any the failed call queued.
    const next = nextEvent<DropInfo>(ch, "drop");
    ch.publish("big", "small", { to: ["other-ghost"] });
    await next;
    expect(drops).toEqual([{ peer: "other-ghost", count: 1, reason: "no-link" }]);
  });

  it("with a subscribed peer: the failed publish reaches nobody and counts nothing", async () => {
    const { ch: pub, url } = await mesh.listening("pub", { maxFrameSize: 1024 });
    const mine = collect(pub, "n");
    const sub = mesh.channel("sub");
    const theirs = collect(sub, "n");
    await sub.connect(url);
    await until(() => pub.peers()[0]?.subscriptions === 1);
    expect(() => pub.publish("n", "x".repeat(2000))).toThrow(payloadError);
    pub.publish("n", "ok");
    await until(() => theirs.data.length === 1);
    expect([mine.data, theirs.data, pub.peers()[0]!.sent]).toEqual([["ok"], ["ok"], 1]);
  });
});

describe("frame-size limits between peers", () => {
  it("a peer with a small maxFrameSize still receives the whole subscription state", async () => {
    const { ch: small, url } = await mesh.listening("small", { maxFrameSize: 8 * 1024 });
    const big = mesh.channel("big");
    for (let i = 0; i < 100; i++) big.subscribe(`${"p".repeat(200)}.${i}`, () => {});
    await big.connect(url, { timeout: 5000 });
    expect(small.peers()[0]).toMatchObject({ state: "up", subscriptions: 100 });
  });

  it("a sender whose message a peer refuses as too large gets a typed ERR_FRAME_TOO_LARGE naming the peer's limit", async () => {
    const { ch: small, url } = await mesh.listening("small", { maxFrameSize: 1024 });
    const sender = mesh.channel("sender");
    const senderErrors: ChannelError[] = [];
    const smallErrors: ChannelError[] = [];
    sender.on("error", (e) => senderErrors.push(e));
    small.on("error", (e) => smallErrors.push(e));
    // One pattern of 2,000 UTF-8 bytes: no chunking can fit it under the peer's 1,024.
    sender.subscribe("é".repeat(1000), () => {});
    const linking = sender.connect(url, { timeout: 3000 }).catch(() => {});
    await until(() => senderErrors.some((e) => e.code === ErrorCode.FRAME_TOO_LARGE));
    const seen = senderErrors.find((e) => e.code === ErrorCode.FRAME_TOO_LARGE)!;
    expect(seen.peer).toBe("small");
    expect(seen.message).toBe("small refused a message from this service as larger than its maxFrameSize (1024 bytes)");
    await until(() => smallErrors.some((e) => e.code === ErrorCode.FRAME_TOO_LARGE));
    expect(smallErrors.find((e) => e.code === ErrorCode.FRAME_TOO_LARGE)!.message).toMatch(
      /a message from .* exceeded maxFrameSize \(1024 bytes\)/,
    );
    await sender.close({ drainTimeout: 0 });
    await linking;
  });
});

describe("options", () => {
  it("has no ackDelay option (it was documented but never read)", () => {
    // @ts-expect-error ackDelay is not an option (a type-level check: `pnpm typecheck` fails if it comes back)
    const options: MessageChannelOptions = { id: "x", ackDelay: 5 };
    expect(options.id).toBe("x");
  });
});

describe("payloads publish accepts are accepted by peers, however the link batches them", () => {
  it("two payloads of many record shapes each, published in one tick (one WebSocket message), both arrive and the link stays up", async () => {
    const { ch: sub, url } = await mesh.listening("shapes-sub");
    const got = collect(sub, "shapes");
    const errors: ChannelError[] = [];
    sub.on("error", (e) => errors.push(e));
    const pub = mesh.channel("shapes-pub");
    await pub.connect(url);
    await until(() => pub.peers().find((p) => p.id === "shapes-sub")?.subscriptions === 1, 5000, "the subscription");
    // 600 distinct one-key shapes, each read four times: within the budget for one payload, not for two.
    const payload = (from: number): unknown[] =>
      Array.from({ length: 600 }, (_, j) => Array.from({ length: 4 }, () => ({ [`k${from + j}`]: 1 }))).flat();
    pub.publish("shapes", payload(0));
    pub.publish("shapes", payload(600));
    await until(() => got.data.length === 2, 5000, "both payloads");
    expect(errors).toEqual([]);
    expect(pub.peers().find((p) => p.id === "shapes-sub")).toMatchObject({ state: "up", resumes: 0 });
  });
});
