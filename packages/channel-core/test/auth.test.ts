import { once } from "node:events";
import { WebSocket } from "ws";
import { nextEvent, otherTestSecret, testSecret, until } from "@sfn/test-utils";
import { ErrorCode, PROTOCOL_VERSION, type ChannelError } from "../src/index.js";
import { createDecoder, decodeFrames, encodeControl, FrameType } from "../src/internal.js";
import { Mesh, collect } from "./helpers.js";

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
    const ws = new WebSocket(url);
    const received: unknown[] = [];
    ws.on("message", (d: Buffer) => received.push(...decodeFrames(createDecoder(), d)));
    const closed = once(ws, "close");
    await once(ws, "open");
    ws.send(encodeControl({ type: FrameType.HELLO, version: PROTOCOL_VERSION + 1, id: "future", instance: "i", nonce: Buffer.alloc(16), maxFrameSize: 1 << 20, auth: false }));
    await closed;
    expect(received).toContainEqual(expect.objectContaining({ type: FrameType.ERROR, code: ErrorCode.PROTOCOL_VERSION }));
    await until(() => codes.includes(ErrorCode.PROTOCOL_VERSION));
  });

  it("never sends a message to a connection that has not authenticated", async () => {
    const { ch: one, url } = await mesh.listening("one", { secret: testSecret });
    one.subscribe("t", () => {});
    const ws = new WebSocket(url);
    const received: { type: number }[] = [];
    ws.on("message", (d: Buffer) => received.push(...(decodeFrames(createDecoder(), d) as { type: number }[])));
    const closed = once(ws, "close");
    await once(ws, "open");
    // Claims a secret but never proves it; also tries to subscribe before the handshake.
    ws.send(encodeControl({ type: FrameType.HELLO, version: PROTOCOL_VERSION, id: "sneaky", instance: "i", nonce: Buffer.alloc(16), maxFrameSize: 1 << 20, auth: true }));
    await until(() => received.length >= 2);
    for (let i = 0; i < 10; i++) one.publish("t", i);
    ws.send(Buffer.from([0x93, 0x05, 0x01, 0x91, 0xa1, 0x74]));
    await closed;
    expect(received.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.AUTH, FrameType.ERROR]);
    expect(one.peers()).toEqual([]);
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
