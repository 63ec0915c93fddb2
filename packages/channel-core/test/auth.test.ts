import { once } from "node:events";
import { WebSocket } from "ws";
import { nextEvent, otherTestSecret, testSecret, until } from "@sfn/test-utils";
import { authProof } from "../src/auth.js";
import { ErrorCode, PROTOCOL_VERSION, type ChannelError } from "../src/index.js";
import { encodeControl, packValue } from "../src/protocol/codec.js";
import { FrameType, Role } from "../src/protocol/frames.js";
import { Mesh, collect } from "./helpers.js";
import { RawClient } from "./raw-client.js";

const mesh = new Mesh();
afterEach(() => mesh.close());

const errorCodes = (ch: { on(e: "error", l: (err: ChannelError) => void): unknown }): string[] => {
  const codes: string[] = [];
  ch.on("error", (e) => codes.push(e.code));
  return codes;
};

describe("handshake and authentication", () => {
  it("links two services that share a secret", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret });
    const two = mesh.channel("two", { secret: testSecret });
    const got = collect(two, "t");
    await two.connect(url);
    await until(() => one.peers()[0]?.subscriptions === 1);
    one.publish("t", "secret stuff");
    await until(() => got.data.length === 1);
  });

  it("refuses a wrong secret with ERR_AUTH_FAILED on both sides", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret });
    const codes = errorCodes(one);
    const two = mesh.channel("two", { secret: otherTestSecret });
    await expect(two.connect(url)).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED });
    await until(() => codes.includes(ErrorCode.AUTH_FAILED));
    expect(one.peers()).toEqual([]);
  });

  it("a reconnect the restarted peer refuses is reported once per attempt, not twice", async () => {
    const { ch: one, port } = await mesh.listening("one", { secret: testSecret });
    const two = mesh.channel("two", { secret: testSecret, reconnect: { initialDelay: 20, maxDelay: 50 } });
    await two.connect(`ws://127.0.0.1:${port}/`);
    await one.close();
    // The same service restarted on the same port, without the secret.
    const again = mesh.channel("one");
    await again.listen({ port });
    const codes: string[] = [];
    let sameTurn = -1;
    two.on("error", (e) => {
      codes.push(e.code);
      // Both reports of one refusal came in one synchronous call: count what this turn brought.
      if (sameTurn < 0) setImmediate(() => (sameTurn = codes.length));
    });
    await until(() => sameTurn >= 0, 10_000, "the refusal");
    expect(codes[0]).toBe(ErrorCode.AUTH_REQUIRED);
    expect(sameTurn).toBe(1);
  });

  it("refuses a peer without a secret with ERR_AUTH_REQUIRED on both sides", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret });
    const codes = errorCodes(one);
    const two = mesh.channel("two");
    await expect(two.connect(url)).rejects.toMatchObject({ code: ErrorCode.AUTH_REQUIRED });
    await until(() => codes.includes(ErrorCode.AUTH_REQUIRED));
  });

  it("refuses a duplicate service id with ERR_DUPLICATE_ID, keeping the first link", async () => {
    const { ch: hub, url } = await mesh.listening("hub");
    const codes = errorCodes(hub);
    const first = mesh.channel("worker");
    await first.connect(url);
    const impostor = mesh.channel("worker");
    await expect(impostor.connect(url)).rejects.toMatchObject({ code: ErrorCode.DUPLICATE_ID });
    await until(() => codes.includes(ErrorCode.DUPLICATE_ID));
    expect(hub.peers().map((p) => [p.id, p.state])).toEqual([["worker", "up"]]);
    // A service may not claim the id of the service it connects to either.
    const self = mesh.channel("hub");
    await expect(self.connect(url)).rejects.toMatchObject({ code: ErrorCode.DUPLICATE_ID });
  });

  it("refuses an incompatible protocol version with ERR_PROTOCOL_VERSION", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const codes = errorCodes(one);
    const c = await RawClient.open(url);
    c.send(
      encodeControl({
        type: FrameType.HELLO,
        version: PROTOCOL_VERSION + 1,
        role: Role.DIALER,
        id: "future",
        nonce: c.nonce,
        key: c.ephemeral.publicKey,
        maxFrameSize: 1 << 20,
        auth: false,
      }),
    );
    await c.closed;
    expect(c.frames).toEqual([expect.objectContaining({ type: FrameType.ERROR, code: ErrorCode.PROTOCOL_VERSION })]);
    await until(() => codes.includes(ErrorCode.PROTOCOL_VERSION));
  });

  it("refuses a peer of protocol version 1 (its HELLO layout) with ERR_PROTOCOL_VERSION", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret });
    const codes = errorCodes(one);
    const c = await RawClient.open(url);
    c.send(packValue([FrameType.HELLO, 1, "old", "instance", Buffer.alloc(16), 1 << 20, true]));
    await c.closed;
    expect(c.frames).toEqual([expect.objectContaining({ type: FrameType.ERROR, code: ErrorCode.PROTOCOL_VERSION })]);
    await until(() => codes.includes(ErrorCode.PROTOCOL_VERSION));
  });

  it("the acceptor speaks second: a connection that says nothing hears nothing", async () => {
    const { url } = await mesh.listening("one", { secret: testSecret, handshakeTimeout: 300 });
    const c = await RawClient.open(url);
    await c.closed;
    expect(c.frames.filter((f) => f.type !== FrameType.ERROR)).toEqual([]);
  });

  it("a HELLO alone gets the acceptor's HELLO and nothing that proves or reveals anything", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret, handshakeTimeout: 300 });
    const c = await RawClient.open(url);
    c.hello("sneaky", true);
    await c.closed;
    // On protocol 1 the listener sent its own proof and instance id here, before any proof.
    expect(c.frames.filter((f) => f.type !== FrameType.ERROR).map((f) => f.type)).toEqual([FrameType.HELLO]);
    expect(Buffer.concat(c.messages).includes(Buffer.from(one.instance))).toBe(false);
  });

  it("never sends a message, a proof or its instance id to a connection that has not authenticated", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret });
    const codes = errorCodes(one);
    one.subscribe("t", () => {});
    const c = await RawClient.open(url);
    c.hello("sneaky", true);
    await c.peerHello();
    for (let i = 0; i < 10; i++) one.publish("t", i);
    // A proof made with the wrong secret.
    c.send(encodeControl({ type: FrameType.AUTH, proof: authProof(Buffer.from(otherTestSecret), Role.DIALER, c.transcript as Buffer) }));
    await c.closed;
    expect(c.frames.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.ERROR]);
    expect(c.frames[1]).toMatchObject({ code: ErrorCode.AUTH_FAILED });
    expect(Buffer.concat(c.messages).includes(Buffer.from(one.instance))).toBe(false);
    await until(() => codes.includes(ErrorCode.AUTH_FAILED));
    expect(one.peers()).toEqual([]);
  });

  it("refuses frames other than HELLO/AUTH/READY/ERROR/BYE before READY, and a handshake message with two frames", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret });
    const codes = errorCodes(one);
    const early = await RawClient.open(url);
    early.send(encodeControl({ type: FrameType.PING }));
    await early.closed;
    const doubled = await RawClient.open(url);
    // A valid HELLO followed by garbage in the same message: the HELLO is not acted upon.
    doubled.send(Buffer.concat([doubled.helloBytes("two-frames", true), Buffer.from([0xc1])]));
    await doubled.closed;
    expect(doubled.frames.map((f) => f.type)).toEqual([FrameType.ERROR]);
    await until(() => codes.filter((c) => c === ErrorCode.MALFORMED_FRAME).length === 2);
    expect(one.peers()).toEqual([]);
  });

  it("links two services without a secret (no authentication: the same flow without AUTH)", async () => {
    const { ch: one, url } = await mesh.listening("one");
    const two = mesh.channel("two");
    const got = collect(two, "t");
    await two.connect(url);
    await until(() => one.peers()[0]?.subscriptions === 1);
    one.publish("t", "open");
    await until(() => got.data.length === 1);
  });

  it("closes a handshake that never finishes with ERR_HANDSHAKE_TIMEOUT", async () => {
    const { ch: one, url } = await mesh.listening("one", { handshakeTimeout: 200 });
    const err = nextEvent<ChannelError>(one, "error", (e) => e.code === ErrorCode.HANDSHAKE_TIMEOUT);
    const ws = new WebSocket(url);
    const closed = once(ws, "close");
    await err;
    await closed;
  });
});
