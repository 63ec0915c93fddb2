import { nextEvent, until } from "@sfn/test-utils";
import { ErrorCode, type DropInfo, type MessageChannelOptions } from "../src/index.js";
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

describe("options", () => {
  it("has no ackDelay option (it was documented but never read)", () => {
    // @ts-expect-error ackDelay is not an option (a type-level check: `pnpm typecheck` fails if it comes back)
    const options: MessageChannelOptions = { id: "x", ackDelay: 5 };
    expect(options.id).toBe("x");
  });
});
