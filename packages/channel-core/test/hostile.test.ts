import v8 from "node:v8";
import vm from "node:vm";
import { testSecret, until } from "@sfn/test-utils";
import { ErrorCode, type ChannelError, type MessageChannel } from "../src/index.js";
import { encodeControl, encodeMessageBody, encodePatternsBody, encodeSequenced, packValue } from "../src/protocol/codec.js";
import { FrameType, PROTOCOL_VERSION } from "../src/protocol/frames.js";
import { Mesh, collect } from "./helpers.js";
import { RawClient } from "./raw-client.js";

const SECRET = testSecret;
const mesh = new Mesh();
let victim: MessageChannel;
let url: string;
let beats: { data: unknown[] };
let errors: ChannelError[];
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => void unhandled.push(e);

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUnhandled);
  ({ ch: victim, url } = await mesh.listening("victim", {
    secret: SECRET,
    maxFrameSize: 64 * 1024,
    handshakeTimeout: 300,
    // Sessions of attackers that did authenticate are kept this long for a resume, then dropped.
    window: { resumeTimeout: 500 },
    limits: { maxRemoteSubscriptions: 5000, maxControlBytes: 4096, maxPendingHandshakes: 64 },
  }));
  errors = [];
  victim.on("error", (e) => errors.push(e));
  // A well-behaved peer that must not notice any of the attacks.
  const friend = mesh.channel("friend", { secret: SECRET });
  beats = collect(friend, "beat");
  await friend.connect(url);
});

afterAll(async () => {
  await mesh.close();
  process.off("unhandledRejection", onUnhandled);
  process.off("uncaughtException", onUnhandled);
});

/** The victim still serves its friend: a fresh message arrives over the same, unbroken link. */
async function friendStillServed(): Promise<void> {
  const before = beats.data.length;
  victim.publish("beat", before);
  await until(() => beats.data.length === before + 1, 5000, "friend's beat");
  const friend = victim.peers().find((p) => p.id === "friend");
  expect(friend).toMatchObject({ state: "up", resumes: 0 });
}

/** Sends `attack` on a fresh raw connection; expects the victim to close it with `code`. */
async function expectRefused(code: string, attack: (c: RawClient) => Promise<void> | void): Promise<void> {
  const seen = errors.length;
  const c = await RawClient.open(url);
  await attack(c);
  await c.closed;
  await until(() => errors.slice(seen).some((e) => e.code === code), 5000, `error ${code}`);
  await friendStillServed();
}

describe("hostile input: each attack ends in a typed error and a closed link, and nothing else", () => {
  it("random bytes", () => expectRefused(ErrorCode.MALFORMED_FRAME, (c) => c.send(Buffer.from([0xc1, 0x00, 0xff, 0x13, 0x37]))));

  it("truncated msgpack", () => expectRefused(ErrorCode.MALFORMED_FRAME, (c) => c.send(encodeControl({ type: FrameType.ACK, seq: 70000 }).subarray(0, 3))));

  it.each([
    ["an object instead of an array", packValue({ type: 1 })],
    ["a HELLO with a numeric id", packValue([1, PROTOCOL_VERSION, 42, "i", Buffer.alloc(16), 1024, false])],
    ["a string frame type", packValue(["1"])],
    ["a nested array bomb", packValue(JSON.parse("[".repeat(500) + "]".repeat(500)))],
  ])("well-formed msgpack of the wrong shape: %s", (_n, bytes) => expectRefused(ErrorCode.MALFORMED_FRAME, (c) => c.send(bytes)));

  it("an unknown frame type", () => expectRefused(ErrorCode.UNKNOWN_FRAME, (c) => c.send(packValue([99, "?"]))));

  it("a message before the handshake", () =>
    expectRefused(ErrorCode.MALFORMED_FRAME, (c) => c.send(encodeSequenced(FrameType.MSG, 1, encodeMessageBody("beat", "forged")))));

  it("a frame over the size limit", () => expectRefused(ErrorCode.FRAME_TOO_LARGE, (c) => c.send(Buffer.alloc(65 * 1024))));

  it("a flood of subscriptions from an authenticated peer", () =>
    expectRefused(ErrorCode.LIMIT_EXCEEDED, async (c) => {
      await c.handshake("flooder", SECRET);
      for (let i = 0; i < 10; i++) {
        c.send(encodeSequenced(FrameType.SUB, i + 2, encodePatternsBody(Array.from({ length: 1000 }, (_, j) => `flood.${i}.${j}`))));
      }
    }));

  it("a PING flood from a peer that does not read the PONGs", () =>
    expectRefused(ErrorCode.LIMIT_EXCEEDED, async (c) => {
      await c.handshake("pinger", SECRET);
      c.send(Buffer.concat(Array.from({ length: 5000 }, () => encodeControl({ type: FrameType.PING }))));
    }));

  it("an acknowledgement of frames never sent", () =>
    expectRefused(ErrorCode.MALFORMED_FRAME, async (c) => {
      await c.handshake("liar", SECRET);
      c.send(encodeControl({ type: FrameType.ACK, seq: 1_000_000 }));
    }));

  it("a wrong secret", () =>
    expectRefused(ErrorCode.AUTH_FAILED, async (c) => {
      await c.handshake("guesser", "password123").catch(() => {});
    }));

  it("a replayed handshake (a recorded HELLO and AUTH sent again on a new connection)", async () => {
    const honest = await RawClient.open(url);
    await honest.handshake("recorded", SECRET);
    const recorded = honest.sent.slice(0, 2);
    honest.ws.close();
    await honest.closed;
    await expectRefused(ErrorCode.AUTH_FAILED, async (c) => {
      for (const b of recorded) c.send(b);
    });
  });

  it("a second HELLO inside one handshake", () =>
    expectRefused(ErrorCode.MALFORMED_FRAME, (c) => {
      c.hello("twice", true);
      c.hello("twice", true);
    }));

  it("a handshake that never finishes", () => expectRefused(ErrorCode.HANDSHAKE_TIMEOUT, () => {}));

  it("hundreds of hostile connections leave memory bounded and no unhandled rejection", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const attacks: ((c: RawClient) => void)[] = [
      (c) => c.send(Buffer.from([0xc1])),
      (c) => c.send(packValue([99])),
      (c) => c.send(Buffer.alloc(65 * 1024)),
      (c) => c.send(encodeSequenced(FrameType.SUB, 1, encodePatternsBody(["x"]))),
    ];
    const round = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, async (_, j) => {
            const c = await RawClient.open(url);
            attacks[(i + j) % attacks.length]!(c);
            await c.closed;
          }),
        );
      }
    };
    await round(100);
    gc();
    const before = process.memoryUsage().heapUsed;
    await round(400);
    // Authenticated attackers' sessions expire after the resume timeout.
    await until(() => victim.peers().length === 1, 10_000, "attackers' sessions expired");
    gc();
    const growth = process.memoryUsage().heapUsed - before;
    expect(growth).toBeLessThan(8 * 1024 * 1024);
    await friendStillServed();
    expect(unhandled).toEqual([]);
    expect(victim.peers().map((p) => p.id)).toEqual(["friend"]);
  });
});

describe("limits on peer-controlled state", () => {
  it("sheds a burst of connections beyond the pending-handshake caps without touching a linked peer", async () => {
    // Past maxPendingHandshakes (and the per-address cap) the oldest pending handshakes are
    // evicted; test/preauth.test.ts shows a reconnecting service getting in during such a flood.
    const clients = await Promise.all(Array.from({ length: 80 }, () => RawClient.open(url)));
    await Promise.all(clients.map((c) => c.closed));
    expect(clients.every((c) => c.ws.readyState === c.ws.CLOSED)).toBe(true);
    await friendStillServed();
    expect(victim.peers().map((p) => p.id)).toEqual(["friend"]);
  });
});
