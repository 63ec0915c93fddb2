/**
 * Independent review of the version 2 handshake (issue 9): attacks found after the fixes of
 * handshake-attacks.test.ts and preauth.test.ts. Each failed on the code it was found in.
 */
import { once } from "node:events";
import { connect as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Unpackr } from "msgpackr";
import { WebSocketServer, type WebSocket } from "ws";
import { createTestCa, nextEvent, testSecret, until } from "@sfn/test-utils";
import { ErrorCode, MessageChannel, type ChannelError, type DropInfo, type LinkUpInfo } from "../src/index.js";
import { createDecoder, decodeFrames, encodeControl } from "../src/protocol/codec.js";
import { FrameType, PROTOCOL_VERSION, Role, type Frame, type HelloFrame, type ReadyFrame } from "../src/protocol/frames.js";
import { createEphemeral, createNonce } from "../src/auth.js";
import { PendingHandshakes } from "../src/admission.js";
import { Mesh, collect } from "./helpers.js";
import { RawClient } from "./raw-client.js";
import { WebSocket as WsClient } from "ws";

const pki = createTestCa();
afterAll(() => pki.cleanup());
const mesh = new Mesh();
const cleanups: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  await mesh.close();
  for (const c of cleanups.splice(0)) await c();
  jest.restoreAllMocks();
});

/** A TCP forwarder whose target can be switched: the dialled URL then reaches another listener. */
class SwitchProxy {
  /** Bytes from the dialer, in order (a dialer masks with zeros: frames are readable). */
  readonly upstreamBytes: Buffer[] = [];
  refusing = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(public target: number) {
    this.server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      client.on("data", (d: Buffer) => this.upstreamBytes.push(Buffer.from(d)));
      const upstream = tcpConnect(this.target, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async start(): Promise<string> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    cleanups.push(() => this.close());
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<unknown> {
    this.cut();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

/** A listener that knows no secret and answers every HELLO with `answer`. */
async function impostor(answer: Buffer): Promise<{ port: number; hellos: () => number }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await once(wss, "listening");
  let hellos = 0;
  wss.on("connection", (ws: WebSocket) => {
    ws.on("error", () => {});
    ws.on("message", (d: Buffer) => {
      const [frame] = decodeFrames(createDecoder(), d) as Frame[];
      if (frame?.type !== FrameType.HELLO) return;
      hellos++;
      ws.send(answer);
    });
  });
  cleanups.push(() => {
    for (const ws of wss.clients) ws.terminate();
    return new Promise((r) => wss.close(r));
  });
  return { port: (wss.address() as AddressInfo).port, hellos: () => hellos };
}

describe("ERROR and BYE frames from a peer that has proven nothing", () => {
  it("an unauthenticated BYE 'disconnect' does not stop an established dialer for good", async () => {
    const { ch: hub, port } = await mesh.listening("hub", { secret: testSecret });
    const proxy = new SwitchProxy(port);
    const url = await proxy.start();
    const dialer = mesh.channel("dialer", { secret: testSecret });
    await dialer.connect(url);

    // For a moment the URL reaches a listener without the secret (port squatted during a
    // restart, or a network attacker): it answers the HELLO with BYE "disconnect".
    const fake = await impostor(encodeControl({ type: FrameType.BYE, reason: "disconnect" }));
    proxy.target = fake.port;
    proxy.cut();
    await until(() => fake.hellos() >= 1, 5000, "the dialer reached the impostor");

    // The real hub is back at the URL: the dialer must still be trying.
    const back = nextEvent<LinkUpInfo>(dialer, "link:up", (u) => u.peer === "hub", 5000);
    proxy.target = port;
    proxy.cut();
    await back;
    expect(hub.peers().map((p) => [p.id, p.state])).toEqual([["dialer", "up"]]);
  });

  it("an unauthenticated ERROR cannot pose as this side's own subscriber failure or throttling (no process warning)", async () => {
    // No `error` listener: errors a remote peer causes must stay in the debug log.
    const victim = new MessageChannel({ id: "victim", secret: testSecret });
    mesh.channels.push(victim);
    const { url } = await victim.listen({ port: 0 });
    const warnings = jest.spyOn(process, "emitWarning").mockImplementation(() => {});
    const forge = async (code: string): Promise<void> => {
      const cl = await RawClient.open(url);
      cl.send(encodeControl({ type: FrameType.ERROR, code, message: `subscriber of "orders" failed: forged by ${code}` }));
      await cl.closed;
    };
    await forge(ErrorCode.SUBSCRIBER);

    const seen: ChannelError[] = [];
    victim.on("error", (e) => seen.push(e));
    for (const code of [ErrorCode.SUBSCRIBER, ErrorCode.AUTH_THROTTLED, ErrorCode.CLOSED]) await forge(code);
    await until(() => seen.length === 3, 5000, "three errors reported");
    expect(seen.map((e) => e.code)).toEqual([ErrorCode.MALFORMED_FRAME, ErrorCode.MALFORMED_FRAME, ErrorCode.MALFORMED_FRAME]);
    // The first forgery, sent with no listener, was handled before these three were reported.
    expect(warnings).not.toHaveBeenCalled();
  });
});

describe("frame layouts are exact", () => {
  it("an ERROR, BYE or PING with extra elements is malformed, not taken at its word", async () => {
    const { ch: victim, url } = await mesh.listening("victim", { secret: testSecret });
    const seen: ChannelError[] = [];
    victim.on("error", (e) => seen.push(e));
    // [10, "ERR_AUTH_FAILED", "x", 1], [11, "close", 1], [8, 1]
    const frames = [
      Buffer.concat([Buffer.from([0x94, FrameType.ERROR, 0xaf]), Buffer.from(ErrorCode.AUTH_FAILED), Buffer.from([0xa1, 0x78, 0x01])]),
      Buffer.concat([Buffer.from([0x93, FrameType.BYE, 0xa5]), Buffer.from("close"), Buffer.from([0x01])]),
      Buffer.from([0x92, FrameType.PING, 0x01]),
    ];
    for (const bytes of frames) {
      const cl = await RawClient.open(url);
      cl.send(bytes);
      await cl.closed;
      expect(cl.frames).toEqual([expect.objectContaining({ type: FrameType.ERROR, code: ErrorCode.MALFORMED_FRAME })]);
    }
    await until(() => seen.length === 3, 5000, "three errors reported");
    expect(seen.map((e) => e.code)).toEqual([ErrorCode.MALFORMED_FRAME, ErrorCode.MALFORMED_FRAME, ErrorCode.MALFORMED_FRAME]);
  });
});

describe("connections that never ask for the WebSocket upgrade", () => {
  it("are closed within handshakeTimeout: silent, slow headers, or plain HTTP kept alive", async () => {
    const { port } = await mesh.listening("victim", { secret: testSecret, handshakeTimeout: 500 });
    const sockets: Socket[] = [];
    const open = (onConnect?: (s: Socket) => void): Socket => {
      const s = tcpConnect(port, "127.0.0.1", () => onConnect?.(s));
      s.on("error", () => {});
      s.on("data", () => {});
      sockets.push(s);
      cleanups.push(async () => s.destroy());
      return s;
    };
    // Node's HTTP server never times out a connection that sends nothing, checks header
    // timeouts only every 30 s, and keeps a connection alive for as long as requests come.
    for (let i = 0; i < 5; i++) open();
    open((s) => s.write("GET / HTTP/1.1\r\n"));
    const keepAlive = open();
    const requests = setInterval(() => keepAlive.writable && keepAlive.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 100);
    try {
      // Without the deadline these stay open for good (the keep-alive one) or for 30 s and more:
      // the wait's own limit is the check, no wall-clock assertion.
      await until(() => sockets.every((s) => s.destroyed || s.readableEnded), 10_000, "every idle connection closed");
    } finally {
      clearInterval(requests);
    }
  });

  it.each([false, true])("links (TLS: %s) outlive that deadline", async (secure) => {
    const cert = secure ? pki.issue({ cn: "victim", services: ["victim"] }) : undefined;
    const victim = mesh.channel("victim", { secret: testSecret, handshakeTimeout: 300 });
    const { url } = await victim.listen(cert ? { port: 0, tls: { cert: cert.cert, key: cert.key } } : { port: 0 });
    const friend = mesh.channel("friend", { secret: testSecret });
    const got = collect(friend, "t");
    // A connection opened with the link that never asks for the upgrade: once the deadline has
    // closed it, the link has outlived that deadline.
    const idle = secure
      ? tlsConnect({ port: Number(new URL(url).port), host: "127.0.0.1", ca: pki.ca, servername: "localhost" })
      : tcpConnect(Number(new URL(url).port), "127.0.0.1");
    idle.on("error", () => {});
    idle.on("data", () => {});
    cleanups.push(async () => idle.destroy());
    const idleClosed = once(idle, "close");
    await friend.connect(url, secure ? { tls: { ca: pki.ca } } : {});
    await idleClosed;
    victim.publish("t", 1);
    await until(() => got.data.length === 1, 5000, "message after the deadline");
    expect(victim.peers().map((p) => [p.id, p.state, p.resumes])).toEqual([["friend", "up", 0]]);
  });
});

describe("pending-handshake slots under a flood from many addresses", () => {
  type Item = { pending: boolean; evicted: boolean; evict(): void };
  const item = (): Item => ({
    pending: true,
    evicted: false,
    evict() {
      this.evicted = true;
    },
  });

  it("eviction at the global cap takes from the address that holds the most, never a lone handshake", () => {
    const slots = new PendingHandshakes<Item>(256, 16);
    const legit = item();
    slots.add(legit, "10.0.0.1");
    // 64 addresses, each under the per-address cap, reconnecting far faster than one handshake.
    for (let i = 0; i < 10_000; i++) slots.add(item(), `10.1.0.${i % 64}`);
    expect(legit.evicted).toBe(false);
    expect(slots.size).toBe(256);
  });

  /** A TCP forwarder that delays every chunk by `ms` each way (a distant peer). */
  async function slowLink(target: number, ms: number): Promise<{ url: string; cut: () => void }> {
    const sockets = new Set<Socket>();
    const server = createServer((c) => {
      const u = tcpConnect(target, "127.0.0.1");
      for (const s of [c, u]) {
        sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => {
          sockets.delete(s);
          c.destroy();
          u.destroy();
        });
      }
      c.on("data", (d: Buffer) => setTimeout(() => u.writable && u.write(d), ms));
      u.on("data", (d: Buffer) => setTimeout(() => c.writable && c.write(d), ms));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const cut = (): void => {
      for (const s of sockets) s.destroy();
    };
    cleanups.push(() => {
      cut();
      return new Promise((r) => server.close(r));
    });
    return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, cut };
  }

  it("a service 400 ms away reconnects while 64 addresses flood HELLOs as fast as they can", async () => {
    const { url, port } = await mesh.listening("victim", { secret: testSecret });
    const link = await slowLink(port, 200);
    const friend = mesh.channel("friend", { secret: testSecret, reconnect: { initialDelay: 50, maxDelay: 500 } });
    await friend.connect(link.url);
    const hello = encodeControl({
      type: FrameType.HELLO,
      version: PROTOCOL_VERSION,
      role: Role.DIALER,
      id: "flooder",
      nonce: createNonce(),
      key: createEphemeral().publicKey,
      maxFrameSize: 1 << 20,
      auth: true,
    });
    let stopped = false;
    let opened = 0;
    const flood = new Set<WsClient>();
    const open = (address: string): void => {
      if (stopped) return;
      const ws = new WsClient(url, { localAddress: address });
      opened++;
      flood.add(ws);
      ws.on("error", () => {});
      ws.on("open", () => ws.send(hello));
      ws.on("close", () => {
        flood.delete(ws);
        setImmediate(() => open(address));
      });
    };
    for (let a = 2; a < 66; a++) for (let i = 0; i < 16; i++) open(`127.0.0.${a}`);
    try {
      await until(() => opened > 1000, 30_000, "flood running");
      // Each handshake takes about a second here: far more than 256 flood connections arrive meanwhile.
      const back = nextEvent<LinkUpInfo>(friend, "link:up", () => true, 10_000);
      link.cut();
      await back;
    } finally {
      stopped = true;
      for (const ws of flood) ws.terminate();
    }
  }, 60_000);
});

describe("decoding before authentication", () => {
  /** `[1, rec, rec, ...]`: `shapes` distinct one-key record shapes, each read four times (msgpackr compiles a reader per hot shape). */
  function recordBomb(shapes: number): Buffer {
    const body: number[] = [FrameType.HELLO];
    for (let s = 0; s < shapes; s++) {
      const id = s % 64;
      const key = Buffer.from(`k${s}`);
      body.push(0xd4, 0x72, 0x40 | id, 0x91, 0xa0 | key.length, ...key, 0x01);
      for (let r = 0; r < 3; r++) body.push(0x40 | id, 0x02);
    }
    const n = 1 + 4 * shapes;
    return Buffer.from([0xdd, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...body]);
  }

  it("a first message with records or nested values is refused before msgpackr decodes it", async () => {
    const { url } = await mesh.listening("victim", { secret: testSecret });
    const unpack = jest.spyOn(Unpackr.prototype, "unpackMultiple");
    const bombs = [recordBomb(900), Buffer.from([0x92, FrameType.HELLO, 0x91, 0x91, 0x91, 0x90])];
    for (const bomb of bombs) {
      const cl = await RawClient.open(url);
      cl.send(bomb);
      await cl.closed;
      expect(cl.frames).toEqual([expect.objectContaining({ type: FrameType.ERROR, code: ErrorCode.MALFORMED_FRAME })]);
    }
    const decodedBombs = unpack.mock.calls.filter(([data]) => bombs.some((b) => Buffer.compare(Buffer.from(data as Uint8Array), b) === 0));
    expect(decodedBombs.length).toBe(0);
  });

  it("a legitimate handshake still decodes (HELLO, AUTH and READY are flat)", async () => {
    const { url } = await mesh.listening("victim", { secret: testSecret });
    const cl = await RawClient.open(url);
    const ready = await cl.handshake("guest", testSecret);
    expect(ready.resume).toBeNull();
    expect((cl.frames[0] as HelloFrame).id).toBe("victim");
    cl.ws.terminate();
    await cl.closed;
  });
});

// Attacks that fail against the current code, kept as regression tests.

/**
 * A man in the middle without the secret: the dialer dials it, it dials the hub and forwards
 * every message, rewriting the hub's HELLO with `rewrite`.
 */
async function tamperingRelay(hubUrl: string, rewrite: (helloA: Buffer) => Buffer): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await once(wss, "listening");
  wss.on("connection", (down: WebSocket) => {
    down.on("error", () => {});
    const up = new WsClient(hubUrl);
    up.on("error", () => {});
    const early: Buffer[] = [];
    let first = true;
    up.on("open", () => {
      for (const m of early.splice(0)) up.send(m);
    });
    down.on("message", (d: Buffer) => (up.readyState === up.OPEN ? up.send(d) : early.push(d)));
    up.on("message", (d: Buffer) => {
      if (down.readyState !== down.OPEN) return;
      down.send(first ? rewrite(d) : d);
      first = false;
    });
    up.on("close", () => down.close());
    down.on("close", () => up.close());
  });
  cleanups.push(() => {
    for (const ws of wss.clients) ws.terminate();
    return new Promise((r) => wss.close(r));
  });
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
}

describe("transcript manipulation by a relay without the secret", () => {
  const reencode = (d: Buffer, change: (h: HelloFrame) => HelloFrame): Buffer =>
    encodeControl(change(decodeFrames(createDecoder(), d)[0] as HelloFrame));
  const cases: [string, (d: Buffer) => Buffer, string][] = [
    ["a smaller maxFrameSize in the acceptor's HELLO", (d) => reencode(d, (h) => ({ ...h, maxFrameSize: 64 })), ErrorCode.AUTH_FAILED],
    [
      "the acceptor's HELLO re-encoded with its nonce as the key",
      (d) => reencode(d, (h) => ({ ...h, key: h.nonce })),
      ErrorCode.AUTH_FAILED,
    ],
    ["the auth flag cleared", (d) => reencode(d, (h) => ({ ...h, auth: false })), ErrorCode.AUTH_REQUIRED],
    // Malformed frames are not fatal for a dialer: it retries (and refuses) until its timeout.
    ["a trailing byte after the HELLO", (d) => Buffer.concat([d, Buffer.from([0xc0])]), ErrorCode.CONNECT],
    ["a ninth element", (d) => Buffer.concat([Buffer.from([0x99]), d.subarray(1), Buffer.from([0xc0])]), ErrorCode.CONNECT],
    ["version 1", (d) => reencode(d, (h) => ({ ...h, version: 1 })), ErrorCode.PROTOCOL_VERSION],
  ];
  it.each(cases)("%s: the dialer does not link", async (_name, rewrite, code) => {
    const { ch: hub, url } = await mesh.listening("hub", { secret: testSecret });
    const relay = await tamperingRelay(url, rewrite);
    const dialer = mesh.channel("dialer", { secret: testSecret });
    const seen: ChannelError[] = [];
    dialer.on("error", (e) => seen.push(e));
    await expect(dialer.connect(relay, { timeout: 1000 })).rejects.toMatchObject({ code });
    if (code === ErrorCode.CONNECT) expect(seen.map((e) => e.code)).toContain(ErrorCode.MALFORMED_FRAME);
    expect(hub.peers()).toEqual([]);
    expect(dialer.peers()).toEqual([]);
  });
});

describe("resume MAC replay", () => {
  /** The resume MAC of the first READY with one in `bytes` (a dialer's frames are unmasked). */
  function resumeMac(bytes: Buffer, instance: string): Buffer | undefined {
    const ready = Buffer.concat([
      Buffer.from([0x94, FrameType.READY, 0xa0 | instance.length]),
      Buffer.from(instance),
      Buffer.from([0xc4, 32]),
    ]);
    const at = bytes.indexOf(ready);
    return at === -1 ? undefined : bytes.subarray(at + ready.length, at + ready.length + 32);
  }

  it("a holder of the secret replays a victim's resume MAC from another connection: refused while live, not resumed when down", async () => {
    const { ch: hub, port, url: hubUrl } = await mesh.listening("hub", { secret: testSecret, window: { resumeTimeout: 60_000 } });
    const proxy = new SwitchProxy(port);
    const url = await proxy.start();
    const victim = mesh.channel("victim", { secret: testSecret });
    victim.subscribe("n", () => {});
    await victim.connect(url);
    await until(() => hub.peers()[0]?.subscriptions === 1);
    // One reconnect: the victim proves its session key with a resume MAC, recorded here.
    const resumed = nextEvent<LinkUpInfo>(victim, "link:up", (u) => u.resumed);
    proxy.cut();
    await resumed;
    const mac = resumeMac(Buffer.concat(proxy.upstreamBytes), victim.instance) as Buffer;
    expect(mac).toHaveLength(32);

    const replay = async (): Promise<RawClient> => {
      const attacker = await RawClient.open(hubUrl);
      const done = attacker.handshake("victim", testSecret, { instance: victim.instance, resume: () => mac });
      await done.catch(() => undefined);
      return attacker;
    };
    // Live link: refused.
    const live = await replay();
    await live.closed;
    expect(live.frames.find((f) => f.type === FrameType.ERROR)).toMatchObject({ code: ErrorCode.DUPLICATE_ID });

    // Link down (the victim cannot get back): the replayed MAC proves nothing; what the hub held
    // for the victim is reported as dropped, never sent to the attacker.
    const drops: DropInfo[] = [];
    hub.on("drop", (d) => drops.push(d));
    proxy.refusing = true;
    proxy.cut();
    await until(() => hub.peers()[0]?.state === "down");
    hub.publish("n", "for the victim only");
    const down = await replay();
    const ready = down.frames.find((f): f is ReadyFrame => f.type === FrameType.READY);
    expect(ready?.resume).toBeNull();
    await until(() => drops.some((d) => d.peer === "victim" && d.count === 1));
    // A PING's answer comes after anything the hub had queued for this connection.
    down.send(encodeControl({ type: FrameType.PING }));
    await down.frame(FrameType.PONG);
    expect(down.frames.filter((f) => f.type === FrameType.MSG)).toEqual([]);
    down.ws.terminate();
  });
});
