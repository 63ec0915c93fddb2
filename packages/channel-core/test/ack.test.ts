import { once } from "node:events";
import { testSecret, until } from "@sfn/test-utils";
import { encodeControl, encodeMessageBody, encodePatternsBody, encodeSequenced } from "../src/protocol/codec.js";
import { FrameType, type Frame } from "../src/protocol/frames.js";
import { Mesh, collect } from "./helpers.js";
import { RawClient } from "./raw-client.js";

// Acknowledgements are batched: at once after 256 frames or 64 KiB, else after a delay. A
// sender that needs one sooner asks with a PING; these tests watch both sides on the wire.
const mesh = new Mesh();
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await mesh.close();
});

async function raw(url: string, id: string): Promise<RawClient> {
  const c = await RawClient.open(url);
  clients.push(c);
  await c.handshake(id, testSecret);
  return c;
}

const seqOf = (f: Frame): number => (f as { seq?: number }).seq ?? -1;

describe("acknowledgements", () => {
  it("a PING is answered with an acknowledgement of everything received, ahead of the PONG", async () => {
    const { ch, url } = await mesh.listening("acker", { secret: testSecret });
    const got = collect(ch, "t");
    const c = await raw(url, "pinger");
    // A message and a PING in one WebSocket message: the receiver reads both in one turn.
    c.send(Buffer.concat([encodeSequenced(FrameType.MSG, 2, encodeMessageBody("t", "x")), encodeControl({ type: FrameType.PING })]));
    await c.frame(FrameType.PONG);
    const pong = c.frames.findIndex((f) => f.type === FrameType.PONG);
    const ack = c.frames.findIndex((f) => f.type === FrameType.ACK && seqOf(f) >= 2);
    expect(ack).toBeGreaterThanOrEqual(0);
    expect(ack).toBeLessThan(pong);
    expect(got.data).toEqual(["x"]);
  });

  it("a publisher whose window passes half a cap asks at once for an acknowledgement: a PING after the data", async () => {
    // No heartbeat PING during the test: any PING seen is the request.
    const { ch, url } = await mesh.listening("sender", {
      secret: testSecret,
      window: { maxMessages: 4 },
      heartbeat: { interval: 60_000, timeout: 120_000 },
    });
    const c = await raw(url, "reader");
    c.send(encodeSequenced(FrameType.SUB, 2, encodePatternsBody(["t"])));
    await until(() => ch.peers().find((p) => p.id === "reader")?.subscriptions === 1, 5000, "the reader's subscription");
    const drained = once(ch, "drain");
    expect(ch.publish("t", 1)).toBe(true);
    expect(ch.publish("t", 2)).toBe(false);
    await c.frame(FrameType.PING);
    const msgs = c.frames.filter((f) => f.type === FrameType.MSG);
    expect(msgs.map((f) => (f as { data: unknown }).data)).toEqual([1, 2]);
    const last = Math.max(...msgs.map(seqOf));
    expect(c.frames.findIndex((f) => f.type === FrameType.PING)).toBeGreaterThan(c.frames.findIndex((f) => seqOf(f) === last));
    c.send(encodeControl({ type: FrameType.ACK, seq: last }));
    await drained;
    expect(ch.peers().find((p) => p.id === "reader")?.pendingMessages).toBe(0);
  });
});

describe("acknowledgements at the end of a link", () => {
  it("a subscriber that closes right after receiving acknowledges first: the publisher reports nothing as undelivered", async () => {
    const { ch: pub, url } = await mesh.listening("pub-bye", { secret: testSecret });
    const drops: unknown[] = [];
    pub.on("drop", (d) => drops.push(d));
    const sub = mesh.channel("sub-bye", { secret: testSecret });
    let closing: Promise<void> | undefined;
    sub.subscribe("t", () => {
      // Within the same turn as the delivery: no acknowledgement delay has run out yet.
      closing ??= sub.close();
    });
    await sub.connect(url);
    await until(() => pub.peers().find((p) => p.id === "sub-bye")?.subscriptions === 1, 5000, "the subscription");
    pub.publish("t", "last words");
    await until(() => closing !== undefined, 5000, "the delivery");
    await closing;
    // The session ends at the publisher (the subscriber said goodbye); what was still unacknowledged
    // then is reported on the next turn.
    await until(() => !pub.peers().some((p) => p.id === "sub-bye"), 5000, "the session's end at the publisher");
    await new Promise((r) => setImmediate(r));
    expect(drops).toEqual([]);
  });

  it("acknowledges before its goodbye even while its socket is backed up (the goodbye does not overtake the acknowledgement)", async () => {
    const { ch, url } = await mesh.listening("bye-busy", {
      secret: testSecret,
      window: { maxMessages: 1000, maxBytes: 256 * 1024 * 1024 },
      heartbeat: { interval: 60_000, timeout: 120_000 },
    });
    const c = await raw(url, "stuck-reader");
    c.send(encodeSequenced(FrameType.SUB, 2, encodePatternsBody(["t"])));
    await until(() => ch.peers().find((p) => p.id === "stuck-reader")?.subscriptions === 1, 5000, "the subscription");
    // The reader stops reading: what the channel sends piles up in its socket.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const link = () =>
      (ch as unknown as { router: { sessions: Map<string, { connection?: { writable: boolean } }> } }).router.sessions.get("stuck-reader")
        ?.connection;
    for (let i = 0; i < 40; i++) ch.publish("t", Buffer.alloc(900_000, i));
    await until(() => link()?.writable === false, 10_000, "the channel's socket backed up");
    // A message from the reader, then the channel disconnects within the turn that delivers it.
    let disconnecting: Promise<void> | undefined;
    ch.subscribe("from-reader", () => {
      disconnecting ??= ch.disconnect("stuck-reader");
    });
    c.send(encodeSequenced(FrameType.MSG, 3, encodeMessageBody("from-reader", "last words")));
    await until(() => disconnecting !== undefined, 5000, "the delivery");
    (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await c.closed;
    await disconnecting;
    const bye = c.frames.findIndex((f) => f.type === FrameType.BYE);
    const ack = c.frames.findIndex((f) => f.type === FrameType.ACK && seqOf(f) >= 3);
    expect(bye).toBeGreaterThanOrEqual(0);
    expect(ack).toBeGreaterThanOrEqual(0);
    expect(ack).toBeLessThan(bye);
  }, 30_000);
});
