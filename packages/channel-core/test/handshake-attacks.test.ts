/**
 * The handshake attacked as issue 9 describes: proofs relayed or reflected between two
 * listeners that share a secret, a live session hijacked by a holder of the secret, and a
 * malicious acceptor fishing for the dialer's session data. Each test fails on protocol 1.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { nextEvent, testSecret, until } from "@sfn/test-utils";
import { createEphemeral, createNonce } from "../src/auth.js";
import { ErrorCode, type ChannelError, type LinkDownInfo, type MessageChannel } from "../src/index.js";
import { createDecoder, decodeFrames, encodeControl } from "../src/protocol/codec.js";
import { FrameType, PROTOCOL_VERSION, Role, type Frame } from "../src/protocol/frames.js";
import { Mesh, collect } from "./helpers.js";
import { RawClient, dialerResume } from "./raw-client.js";

const mesh = new Mesh();
afterEach(() => mesh.close());

function errorsOf(ch: MessageChannel): ChannelError[] {
  const out: ChannelError[] = [];
  ch.on("error", (e) => out.push(e));
  return out;
}

/** Frame types that would mean the attacker got somewhere: a proof, a READY, data. */
const GAINS: ReadonlySet<number> = new Set([FrameType.AUTH, FrameType.READY, FrameType.MSG, FrameType.SUB, FrameType.ACK]);

describe("an attacker without the secret between two listeners that share it", () => {
  let b: MessageChannel;
  let c: MessageChannel;
  let urlB: string;
  let urlC: string;
  let errors: Map<MessageChannel, ChannelError[]>;
  let clients: RawClient[];

  beforeEach(async () => {
    // Two front ends with one secret, as the adapters' READMEs set them up; each has a subscriber.
    ({ ch: b, url: urlB } = await mesh.listening("front-b", { secret: testSecret }));
    ({ ch: c, url: urlC } = await mesh.listening("front-c", { secret: testSecret }));
    errors = new Map([
      [b, errorsOf(b)],
      [c, errorsOf(c)],
    ]);
    const friend = mesh.channel("friend", { secret: testSecret });
    await friend.connect(urlB);
    await friend.connect(urlC);
    collect(friend, "secret.>");
    clients = [];
  });

  const open = async (url: string): Promise<RawClient> => {
    const cl = await RawClient.open(url);
    clients.push(cl);
    return cl;
  };

  /** Runs one attack, then checks that it gained nothing and that the victim reported a failed proof. */
  async function attempt(victim: MessageChannel, attack: () => Promise<void>): Promise<void> {
    const seen = (errors.get(victim) as ChannelError[]).length;
    const publishing = setInterval(() => {
      b.publish("secret.b", "b");
      c.publish("secret.c", "c");
    }, 5);
    try {
      await attack();
      await until(
        () => (errors.get(victim) as ChannelError[]).slice(seen).some((e) => e.code === ErrorCode.AUTH_FAILED),
        5000,
        "ERR_AUTH_FAILED at the victim",
      );
      for (const cl of clients) cl.ws.terminate();
      await Promise.all(clients.map((cl) => cl.closed));
    } finally {
      clearInterval(publishing);
    }
    for (const cl of clients) expect(cl.frames.filter((f) => GAINS.has(f.type))).toEqual([]);
    expect(b.peers().map((p) => p.id)).toEqual(["friend"]);
    expect(c.peers().map((p) => p.id)).toEqual(["friend"]);
  }

  it("relays C's HELLO to B as its own", () =>
    attempt(b, async () => {
      const toC = await open(urlC);
      toC.hello("front-b", true);
      await toC.peerHello();
      const toB = await open(urlB);
      toB.send(toC.message(FrameType.HELLO) as Buffer);
    }));

  it("reflects B's HELLO back at B on a second connection", () =>
    attempt(b, async () => {
      const first = await open(urlB);
      first.hello("front-c", true);
      await first.peerHello();
      const second = await open(urlB);
      second.send(first.message(FrameType.HELLO) as Buffer);
    }));

  it("claims to be C at B and B at C, and presents every 32-byte value it saw from either as B's proof", async () => {
    const toB = await open(urlB);
    toB.hello("front-c", true);
    const helloB = await toB.peerHello();
    const toC = await open(urlC);
    toC.hello("front-b", true);
    const helloC = await toC.peerHello();
    const candidates = [helloC.nonce, helloC.key, helloB.nonce, helloB.key, toB.transcript as Buffer, toC.transcript as Buffer];
    for (const proof of candidates) {
      await attempt(b, async () => {
        const fresh = await open(urlB);
        fresh.hello("front-c", true);
        await fresh.peerHello();
        fresh.send(encodeControl({ type: FrameType.AUTH, proof }));
      });
    }
  });

  it("pipes B and C into each other after opening with its own HELLO to B", () =>
    attempt(c, async () => {
      const toB = await open(urlB);
      const toC = await open(urlC);
      toB.ws.on("message", (d: Buffer) => toC.ws.readyState === toC.ws.OPEN && toC.ws.send(d));
      toC.ws.on("message", (d: Buffer) => toB.ws.readyState === toB.ws.OPEN && toB.ws.send(d));
      toB.hello("front-c", true);
    }));

  it("skips the proof and sends READY", () =>
    attempt(b, async () => {
      const toB = await open(urlB);
      toB.hello("front-c", true);
      await toB.peerHello();
      toB.send(encodeControl({ type: FrameType.READY, instance: c.instance, resume: null, received: 0 }));
    }));
});

describe("a holder of the secret trying to take over a live link", () => {
  it("is refused with ERR_DUPLICATE_ID whatever resume proof it forges; the live link keeps every message", async () => {
    const { ch: hub, url } = await mesh.listening("hub", { secret: testSecret });
    const hubErrors = errorsOf(hub);
    const victim = mesh.channel("victim", { secret: testSecret });
    const got = collect<number>(victim, "n");
    const downs: LinkDownInfo[] = [];
    victim.on("link:down", (d) => downs.push(d));
    hub.on("link:down", (d) => d.peer === "victim" && downs.push(d));
    await victim.connect(url);
    await until(() => hub.peers()[0]?.subscriptions === 1);

    // The attacker has its own session with the hub: a real key, of the wrong session.
    const own = await RawClient.open(url);
    await own.handshake("attacker", testSecret);
    const ownKey = own.sessionKey(testSecret);
    own.ws.close();
    await own.closed;

    let sent = 0;
    const publishing = setInterval(() => hub.publish("n", sent++), 2);
    const forgeries: [string, ((transcript: Buffer, instance: string) => Uint8Array) | undefined][] = [
      ["no resume proof", undefined],
      ["random bytes", () => randomBytes(32)],
      ["a MAC with its own session's key", dialerResume(ownKey)],
      ["a MAC with a key guessed from public values", dialerResume(createHash("sha256").update(victim.instance).digest())],
    ];
    try {
      for (const [, resume] of forgeries) {
        const seen = hubErrors.length;
        const attacker = await RawClient.open(url);
        // It knows (or guessed) the victim's instance id, and claims its service id.
        await expect(attacker.handshake("victim", testSecret, { instance: victim.instance, resume })).rejects.toThrow();
        await attacker.closed;
        expect(attacker.frames.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.AUTH, FrameType.ERROR]);
        expect(attacker.frames[2]).toMatchObject({ code: ErrorCode.DUPLICATE_ID });
        await until(() => hubErrors.slice(seen).some((e) => e.code === ErrorCode.DUPLICATE_ID));
      }
    } finally {
      clearInterval(publishing);
    }
    await until(() => got.data.length === sent);
    expect(got.data).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(downs).toEqual([]);
    expect(hub.peers().find((p) => p.id === "victim")).toMatchObject({ state: "up", resumes: 0, dropped: {} });
  });
});

describe("a malicious acceptor", () => {
  it("gets the dialer's HELLO and proof, but no READY, instance id or session data, and the dialer fails with ERR_AUTH_FAILED", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(wss, "listening");
    const received: Buffer[] = [];
    wss.on("connection", (ws: WebSocket) => {
      const nonce = createNonce();
      const key = createEphemeral().publicKey;
      ws.on("message", (d: Buffer) => {
        received.push(d);
        const [frame] = decodeFrames(createDecoder(), d) as Frame[];
        if (frame?.type === FrameType.HELLO) {
          ws.send(
            encodeControl({
              type: FrameType.HELLO,
              version: PROTOCOL_VERSION,
              role: Role.ACCEPTOR,
              id: "fake",
              nonce,
              key,
              maxFrameSize: 1 << 20,
              auth: true,
            }),
          );
        } else if (frame?.type === FrameType.AUTH) {
          // Replays the dialer's own proof (it has nothing better).
          ws.send(encodeControl({ type: FrameType.AUTH, proof: frame.proof }));
        }
      });
    });
    try {
      const dialer = mesh.channel("dialer", { secret: testSecret });
      const failed = nextEvent<ChannelError>(dialer, "error", (e) => e.code === ErrorCode.AUTH_FAILED);
      await expect(dialer.connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`)).rejects.toMatchObject({
        code: ErrorCode.AUTH_FAILED,
      });
      await failed;
      const types = received.map((d) => (decodeFrames(createDecoder(), d)[0] as Frame).type);
      // Its HELLO, its proof (an acceptor that answers can always get that: see docs/protocol.md), its refusal.
      expect(types).toEqual([FrameType.HELLO, FrameType.AUTH, FrameType.ERROR]);
      expect(Buffer.concat(received).includes(Buffer.from(dialer.instance))).toBe(false);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    }
  });
});
