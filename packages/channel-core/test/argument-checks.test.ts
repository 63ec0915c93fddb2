import { createServer } from "node:net";
import { ConnectError, ErrorCode, MessageChannel, TransportError } from "../src/index.js";
import { Mesh, collect } from "./helpers.js";

const mesh = new Mesh();
afterEach(() => mesh.close());

const invalid = expect.objectContaining({ code: ErrorCode.INVALID_OPTION });

describe("options a channel cannot honour throw InvalidOptionError at the call", () => {
  it("an unknown option key, at the top level or nested, is refused: a misspelt secret must not leave the mesh open", () => {
    const secret = "a-secret-of-enough-entropy-0123456789";
    expect(() => new MessageChannel({ id: "a", secrt: secret } as never)).toThrow(invalid);
    expect(() => new MessageChannel({ id: "a", secret, limits: { maxPeer: 1 } } as never)).toThrow(/maxPeer/);
    expect(() => new MessageChannel({ id: "a", heartbeat: { intreval: 1000 } } as never)).toThrow(invalid);
    expect(() => new MessageChannel({ id: "a", reconnect: { factor: 0.5 } })).toThrow(/reconnect.factor/);
    expect(() => new MessageChannel({ id: "a", reconnect: { jitter: Number.NaN } })).toThrow(invalid);
    // Every documented option is still taken.
    const ch = new MessageChannel({
      id: "a",
      secret,
      maxFrameSize: 65536,
      handshakeTimeout: 5000,
      heartbeat: { interval: 1000, timeout: 5000 },
      reconnect: { initialDelay: 50, maxDelay: 1000, factor: 1.5, jitter: 0.2 },
      window: { maxMessages: 100, maxBytes: 1 << 20, resumeTimeout: 1000 },
      limits: { maxPeers: 10, helloTimeout: 1000 },
    });
    void ch.close();
  });

  it("listen refuses a port that is not one and a path without a leading slash, instead of listening nowhere", async () => {
    const ch = mesh.channel("listener");
    await expect(ch.listen({ port: "abc" as never })).rejects.toThrow(invalid);
    await expect(ch.listen({ port: -1 })).rejects.toThrow(invalid);
    await expect(ch.listen({ port: 70000 })).rejects.toThrow(invalid);
    await expect(ch.listen({ port: 1.5 })).rejects.toThrow(invalid);
    await expect(ch.listen({ port: 0, path: "no-slash" })).rejects.toThrow(/path must be a string starting with "\/"/);
    const { url } = await ch.listen({ port: 0, path: "/mesh" });
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mesh$/);
  });

  it("listen on a port already taken rejects with ERR_TRANSPORT, the system error as its cause", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    try {
      const port = (blocker.address() as { port: number }).port;
      const error = await mesh
        .channel("second")
        .listen({ port })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportError);
      expect(error).toMatchObject({ code: ErrorCode.TRANSPORT, cause: expect.objectContaining({ code: "EADDRINUSE" }) });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it("publish's to must be service ids; a bad one throws before any delivery", () => {
    const ch = mesh.channel("pub");
    const got = collect(ch, "t");
    expect(() => ch.publish("t", 1, { to: 5 as never })).toThrow(invalid);
    expect(() => ch.publish("t", 1, { to: [5] as never })).toThrow(invalid);
    expect(() => ch.publish("t", 1, { to: null as never })).toThrow(invalid);
    expect(got.data).toEqual([]);
    ch.publish("t", 2, { to: ["pub"] });
    ch.publish("t", 3, { to: "pub" });
    expect(got.data).toEqual([2, 3]);
  });

  it("options of listen, connect, publish and close refuse unknown keys and wrong types; nothing happens then", async () => {
    const ch = mesh.channel("calls");
    const got = collect(ch, "t");
    await expect(ch.listen({ port: 0, hots: "127.0.0.1" } as never)).rejects.toThrow(/unknown option "hots" in listen's options/);
    await expect(ch.listen({ server: createServer() as never, port: 0 } as never)).rejects.toThrow(invalid);
    expect(ch.peers()).toEqual([]);
    const { url } = await mesh.channel("peer").listen({ port: 0 });
    await expect(ch.connect(url, { timout: 100 } as never)).rejects.toThrow(/unknown option "timout" in connect's options/);
    expect(ch.peers()).toEqual([]);
    expect(() => ch.publish("t", 1, { volatil: true } as never)).toThrow(/unknown option "volatil" in publish's options/);
    expect(() => ch.publish("t", 1, { volatile: "yes" } as never)).toThrow(/volatile must be a boolean/);
    expect(() => ch.publish("t", 1, { local: 0 } as never)).toThrow(/local must be a boolean/);
    expect(got.data).toEqual([]);
    ch.publish("t", 2, { volatile: true, local: true });
    expect(got.data).toEqual([2]);
    await expect(ch.close({ drainTimeot: 5 } as never)).rejects.toThrow(/unknown option "drainTimeot" in close's options/);
    await expect(ch.close({ drainTimeout: -1 })).rejects.toThrow(/drainTimeout must be a number of ms, 0 or more/);
    await expect(ch.close({ drainTimeout: Number.NaN })).rejects.toThrow(invalid);
    // Refused: still open.
    expect(ch.isClosed).toBe(false);
    await ch.close({ drainTimeout: 0 });
    expect(ch.isClosed).toBe(true);
  });

  it("a first connect that times out says why its last attempt failed (refused, a bad certificate...), with that error as its cause", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    await new Promise((r) => blocker.close(r)); // nothing listens there now
    const error = await mesh
      .channel("dialer", { reconnect: { initialDelay: 20, maxDelay: 50 } })
      .connect(`ws://127.0.0.1:${port}/`, { timeout: 300 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as Error).message).toMatch(/within 300 ms \(last attempt: .*ECONNREFUSED/);
    expect((error as Error).cause).toBeDefined();
  });
});
