import { once } from "node:events";
import { connect as tcpConnect, type Socket } from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import { WebSocket } from "ws";
import { TcpProxy, nextEvent, otherTestSecret, testSecret, until, withTimeout } from "@sfn/test-utils";
import { AuthThrottledError, ErrorCode, type ChannelError, type MessageChannel, type MessageChannelOptions } from "../src/index.js";
import { encodeControl, encodePatternsBody, encodeSequenced, packValue } from "../src/protocol/codec.js";
import { FrameType } from "../src/protocol/frames.js";
import { Mesh } from "./helpers.js";
import { RawClient } from "./raw-client.js";

// Attacks before authentication: none may cost the listener more than a small fixed budget,
// or keep a legitimate service out. Attackers use other loopback addresses (127.0.0.x) so
// per-address limits can tell them from the legitimate service on 127.0.0.1.

const mesh = new Mesh();
const proxies: TcpProxy[] = [];
afterEach(async () => {
  await mesh.close();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

async function victim(
  options: Partial<MessageChannelOptions>,
): Promise<{ ch: MessageChannel; url: string; port: number; errors: ChannelError[] }> {
  const { ch, url, port } = await mesh.listening("victim", { secret: testSecret, ...options });
  const errors: ChannelError[] = [];
  ch.on("error", (e) => errors.push(e));
  return { ch, url, port, errors };
}

/** Idle WebSocket connections from `addresses`, each re-opened as soon as it closes, until stopped. */
class IdleFlood {
  opened = 0;
  private stopped = false;
  private readonly open = new Set<WebSocket>();

  constructor(
    private readonly url: string,
    private readonly addresses: string[],
    private readonly perAddress: number,
  ) {}

  start(): this {
    for (const a of this.addresses) for (let i = 0; i < this.perAddress; i++) this.connect(a);
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const ws of this.open) ws.terminate();
    await until(() => this.open.size === 0, 10_000, "flood closed");
  }

  private connect(address: string): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url, { localAddress: address });
    this.opened++;
    this.open.add(ws);
    ws.on("error", () => {});
    ws.on("close", () => {
      this.open.delete(ws);
      setImmediate(() => this.connect(address));
    });
  }
}

/** A friend linked to the victim through a proxy, so the test can cut its link and watch it come back. */
async function linkedFriend(port: number): Promise<{ friend: MessageChannel; proxy: TcpProxy }> {
  const proxy = await new TcpProxy(port).start();
  proxies.push(proxy);
  const friend = mesh.channel("friend", { secret: testSecret });
  await friend.connect(proxy.url);
  return { friend, proxy };
}

const loopback = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => `127.0.0.${from + i}`);

describe("handshake slots: a flood of idle connections cannot keep a legitimate service out", () => {
  it("per-address cap: idle connections from a few addresses only push out each other", async () => {
    const { url, port } = await victim({ limits: { maxPendingHandshakes: 128 } });
    const { friend, proxy } = await linkedFriend(port);
    // 4 addresses x 40 idle connections: more than every slot there is, re-opened when closed.
    const flood = new IdleFlood(url, loopback(2, 4), 40).start();
    try {
      await until(() => flood.opened >= 300, 20_000, "flood running");
      const back = nextEvent(friend, "link:up", () => true, 8000);
      proxy.cut();
      await back;
    } finally {
      await flood.stop();
    }
  });

  it("global cap: the oldest pending handshake is evicted, so a reconnecting service gets in", async () => {
    const { url, port } = await victim({ limits: { maxPendingHandshakes: 32, maxPendingHandshakesPerAddress: 16 } });
    const { friend, proxy } = await linkedFriend(port);
    // 24 addresses x 3 idle connections each: over the global cap, under the per-address one.
    const flood = new IdleFlood(url, loopback(2, 24), 3).start();
    try {
      await until(() => flood.opened >= 300, 20_000, "flood running");
      const back = nextEvent(friend, "link:up", () => true, 8000);
      proxy.cut();
      await back;
    } finally {
      await flood.stop();
    }
  });

  it("an idle connection gets a short deadline for its first frame (limits.helloTimeout)", async () => {
    const { url, errors } = await victim({ handshakeTimeout: 60_000, limits: { helloTimeout: 100 } });
    const ws = new WebSocket(url, { localAddress: "127.0.0.2" });
    ws.on("error", () => {});
    await once(ws, "open");
    // Safety net only: the handshake timeout (60 s) would be far later.
    await withTimeout(once(ws, "close"), 10_000, "close of the idle connection");
    await until(() => errors.some((e) => e.code === ErrorCode.HANDSHAKE_TIMEOUT), 5000, "HANDSHAKE_TIMEOUT reported");
  });
});

/** A raw TCP WebSocket client: upgrades by hand, then writes whatever frames it likes. */
async function rawUpgrade(port: number): Promise<Socket> {
  const socket = tcpConnect({ port, host: "127.0.0.1", localAddress: "127.0.0.3" });
  socket.on("error", () => {});
  await once(socket, "connect");
  socket.write(
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const [chunk] = (await once(socket, "data")) as [Buffer];
    head += chunk.toString("latin1");
  }
  expect(head.startsWith("HTTP/1.1 101")).toBe(true);
  return socket;
}

/** A masked (zero mask) client frame header: `opcode`, FIN bit, payload length. */
function frameHeader(opcode: number, fin: boolean, length: number): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  if (length < 126) return Buffer.from([first, 0x80 | length, 0, 0, 0, 0]);
  if (length < 65536) {
    const b = Buffer.from([first, 0x80 | 126, 0, 0, 0, 0, 0, 0]);
    b.writeUInt16BE(length, 2);
    return b;
  }
  const b = Buffer.alloc(14);
  b[0] = first;
  b[1] = 0x80 | 127;
  b.writeBigUInt64BE(BigInt(length), 2);
  return b;
}

/** Writes `chunks()` until it returns undefined or the peer drops the socket; resolves with the bytes written. */
async function pump(socket: Socket, next: () => Buffer | undefined): Promise<{ written: number; dropped: boolean }> {
  let written = 0;
  let dropped = false;
  // Not `once(socket, "close")`: it would reject on the ECONNRESET that comes first.
  const gone = new Promise<void>((resolve) =>
    socket.once("close", () => {
      dropped = true;
      resolve();
    }),
  );
  for (let chunk = next(); chunk !== undefined && !dropped; chunk = next()) {
    written += chunk.length;
    if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once("drain", r)), gone]);
  }
  return { written, dropped };
}

function heapBaseline(): () => number {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  gc();
  const before = process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed;
  return () => process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed - before;
}

describe("pre-authentication byte budget: unauthenticated bytes are bounded, whatever their shape", () => {
  const MiB = 1024 * 1024;

  it("an incomplete 50 MB WebSocket message is cut off after the budget; memory stays bounded", async () => {
    const { port, errors } = await victim({ maxFrameSize: 64 * MiB });
    const growth = heapBaseline();
    const socket = await rawUpgrade(port);
    const chunk = Buffer.alloc(64 * 1024);
    let left = 50 * MiB;
    socket.write(frameHeader(0x2, true, left));
    let peak = 0;
    const result = await pump(socket, () => {
      peak = Math.max(peak, growth());
      if (left <= 0) return undefined;
      left -= chunk.length;
      return chunk;
    });
    peak = Math.max(peak, growth());
    socket.destroy();
    // The budget is 64 KiB; the bound leaves room for socket buffers and the test's own objects.
    expect(peak).toBeLessThan(16 * MiB);
    expect(result.dropped).toBe(true);
    expect(result.written).toBeLessThan(50 * MiB);
    await until(() => errors.some((e) => e.code === ErrorCode.LIMIT_EXCEEDED), 5000, "LIMIT_EXCEEDED reported");
  });

  it("a message in thousands of fragments is cut off after the budget; memory stays bounded", async () => {
    const { port, errors } = await victim({ maxFrameSize: 64 * MiB });
    const growth = heapBaseline();
    const socket = await rawUpgrade(port);
    const body = Buffer.alloc(3000);
    let fragments = 0;
    let peak = 0;
    const result = await pump(socket, () => {
      peak = Math.max(peak, growth());
      // 16,000 fragments of 3 KB: under ws's own fragment cap, 48 MB in all.
      if (fragments >= 16000) return undefined;
      const header = frameHeader(fragments === 0 ? 0x2 : 0x0, false, body.length);
      fragments++;
      return Buffer.concat([header, body]);
    });
    peak = Math.max(peak, growth());
    socket.destroy();
    expect(peak).toBeLessThan(16 * MiB);
    expect(result.dropped).toBe(true);
    await until(
      () => errors.some((e) => e.code === ErrorCode.LIMIT_EXCEEDED || e.code === ErrorCode.MALFORMED_FRAME),
      5000,
      "error reported",
    );
  });

  it("a large first message is dropped before it is decoded", async () => {
    const { url, errors } = await victim({ maxFrameSize: 16 * MiB });
    const ws = new WebSocket(url, { localAddress: "127.0.0.4", maxPayload: 64 * MiB });
    ws.on("error", () => {});
    await once(ws, "open");
    // A HELLO-shaped array carrying 8 MB: decoding it would cost real CPU, then fail validation.
    ws.send(packValue([1, 2, "x".repeat(8 * MiB), "y", new Uint8Array(16), 1 << 20, true]));
    await once(ws, "close");
    await until(() => errors.length > 0, 5000, "error reported");
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.LIMIT_EXCEEDED]);
  });

  it("a first message just over the budget is refused as over budget, not decoded (it arrives in one socket read)", async () => {
    const { url, errors } = await victim({ maxFrameSize: 16 * MiB, limits: { maxPreAuthBytes: 64 * 1024 } });
    const ws = new WebSocket(url, { localAddress: "127.0.0.4" });
    ws.on("error", () => {});
    await once(ws, "open");
    // ~80 KiB: ws assembles and emits it within the socket chunk that carries it, before the
    // raw byte count sees that chunk; decoded, it would be a malformed HELLO.
    ws.send(packValue([1, 2, "x".repeat(80 * 1024), "y", new Uint8Array(16), 1 << 20, true]));
    await once(ws, "close");
    await until(() => errors.length > 0, 5000, "error reported");
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.LIMIT_EXCEEDED]);
  });

  it("once linked, peers send far more than the budget both ways: large subscription states, large messages", async () => {
    const { ch, url } = await victim({ maxFrameSize: 4 * MiB });
    const peer = mesh.channel("peer", { secret: testSecret, maxFrameSize: 4 * MiB });
    // ~300 KB of subscriptions each way: they open the session, right after the handshake.
    for (let i = 0; i < 5000; i++) {
      ch.subscribe(`victim.interest.${i}.padding-padding-padding`, () => {});
      peer.subscribe(`peer.interest.${i}.padding-padding-padding`, () => {});
    }
    const atVictim: unknown[] = [];
    const atPeer: unknown[] = [];
    ch.subscribe("big", (d) => atVictim.push(d));
    peer.subscribe("big", (d) => atPeer.push(d));
    await peer.connect(url);
    peer.publish("big", "z".repeat(2 * MiB), { local: false });
    ch.publish("big", "y".repeat(2 * MiB), { local: false });
    await until(() => atVictim.length === 1 && atPeer.length === 1, 10_000, "big messages");
    expect(ch.peers()[0]?.subscriptions).toBe(5001);
    expect(peer.peers()[0]?.subscriptions).toBe(5001);
  });
});

describe("auth failures are rate-limited per address, and the ban only delays", () => {
  it("after maxAuthFailures wrong proofs an address is refused for a while, reported once; the right secret then gets in", async () => {
    const { url, errors } = await victim({ limits: { maxAuthFailures: 5, authBan: 300, maxAuthBan: 600 } });
    for (let i = 0; i < 5; i++) {
      const guesser = mesh.channel(`guesser-${i}`, { secret: otherTestSecret });
      await expect(guesser.connect(url, { timeout: 5000 })).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED });
    }
    await until(() => errors.some((e) => e.code === ErrorCode.AUTH_THROTTLED), 5000, "AUTH_THROTTLED reported");
    const throttled = errors.filter((e): e is AuthThrottledError => e.code === ErrorCode.AUTH_THROTTLED);
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toBeInstanceOf(AuthThrottledError);
    expect(throttled[0]).toMatchObject({ address: "127.0.0.1", failures: 5, retryAfter: 300 });
    // While banned, a connection is refused before the WebSocket upgrade: no handshake, no proof.
    const refused = new WebSocket(url);
    refused.on("error", () => {});
    const [, res] = (await once(refused, "unexpected-response")) as [unknown, { statusCode: number }];
    expect(res.statusCode).toBe(429);
    refused.terminate();
    // A service with the right secret on the same address is delayed, not locked out.
    const legit = mesh.channel("legit", { secret: testSecret });
    await legit.connect(url, { timeout: 10_000 });
  });

  it.each([
    ["bytes that are not MessagePack", Buffer.from([0xc1])],
    ["a frame out of order (SUB before any HELLO)", encodeSequenced(FrameType.SUB, 1, encodePatternsBody(["x"]))],
    [
      "an ERROR frame with a message of the attacker's choosing",
      encodeControl({ type: FrameType.ERROR, code: "ERR_X", message: "look at me" }),
    ],
  ])(
    "any failed handshake counts, not only a wrong proof (%s): a flood is reported a few times, then once as a ban",
    async (_what, bytes) => {
      const { url, errors } = await victim({ limits: { maxAuthFailures: 5, authBan: 60_000, maxAuthBan: 60_000 } });
      for (let i = 0; i < 5; i++) {
        const c = await RawClient.open(url);
        c.send(bytes);
        await c.closed;
      }
      await until(() => errors.some((e) => e.code === ErrorCode.AUTH_THROTTLED), 5000, "AUTH_THROTTLED reported");
      const reported = errors.length;
      // Each failed handshake was reported (5), and the ban once.
      expect(reported).toBe(6);
      expect(errors.filter((e) => e.code === ErrorCode.AUTH_THROTTLED)).toEqual([
        expect.objectContaining({ address: "127.0.0.1", failures: 5 }),
      ]);
      // From then on the address gets HTTP 429 before any WebSocket work, and nothing more is reported.
      for (let i = 0; i < 20; i++) {
        const refused = new WebSocket(url);
        refused.on("error", () => {});
        const [, res] = (await once(refused, "unexpected-response")) as [unknown, { statusCode: number }];
        expect(res.statusCode).toBe(429);
        refused.terminate();
      }
      expect(errors).toHaveLength(reported);
    },
  );
});

describe("secret strength", () => {
  it("refuses passwords and placeholders, accepts generated secrets", () => {
    for (const weak of [
      "s3cret",
      "demo-secret",
      "change-me",
      "correct horse battery",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "abcdefghabcdefghabcdefgh",
    ]) {
      expect(() => mesh.channel("x", { secret: weak })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }));
    }
    expect(() => mesh.channel("x", { secret: new Uint8Array(32) })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }));
    expect(() => mesh.channel("x", { secret: new Uint8Array(15).map((_, i) => i) })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    );
    expect(() => mesh.channel("ok1", { secret: testSecret })).not.toThrow();
    expect(() => mesh.channel("ok2", { secret: new Uint8Array(16).map((_, i) => i * 7) })).not.toThrow();
  });
});
