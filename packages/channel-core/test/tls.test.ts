import { once } from "node:events";
import { createServer as createHttpsServer } from "node:https";
import { createTestCa, testSecret, until } from "@sfn/test-utils";
import { ErrorCode, WsTransport, peerIdsOf, type ChannelError, type TransportConnection } from "../src/index.js";
import { Mesh, collect } from "./helpers.js";

// A throwaway CA, made with the openssl CLI at test time; no key material in the repository.
const pki = createTestCa();
const stranger = createTestCa("another CA");
afterAll(() => {
  pki.cleanup();
  stranger.cleanup();
});

const mesh = new Mesh();
afterEach(() => mesh.close());

const limits = { maxFrameSize: 1 << 20, openTimeout: 5000 };

function errors(ch: { on(e: "error", l: (err: ChannelError) => void): unknown }): ChannelError[] {
  const out: ChannelError[] = [];
  ch.on("error", (e) => out.push(e));
  return out;
}

describe("TLS links (wss://)", () => {
  it("links two services over TLS with a private CA and carries messages both ways", async () => {
    const server = pki.issue({ cn: "svc-a", services: ["svc-a"] });
    const a = mesh.channel("svc-a", { secret: testSecret });
    const { url } = await a.listen({ port: 0, tls: { cert: server.cert, key: server.key } });
    expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/$/);
    const b = mesh.channel("svc-b", { secret: testSecret });
    const atB = collect(b, "down");
    const atA = collect(a, "up");
    await b.connect(url, { tls: { ca: pki.ca } });
    a.publish("down", "to b");
    b.publish("up", "to a");
    await until(() => atB.data.length === 1 && atA.data.length === 1, 5000, "messages over TLS");
    expect([atB.data, atA.data]).toEqual([["to b"], ["to a"]]);
  });

  it("listens on a shared https.Server and reports a wss:// URL", async () => {
    const server = pki.issue({ cn: "front" });
    const https = createHttpsServer({ cert: server.cert, key: server.key }, (_req, res) => res.end("page"));
    const a = mesh.channel("front", { secret: testSecret });
    const address = await a.listen({ server: https });
    https.listen(0, "127.0.0.1");
    await once(https, "listening");
    try {
      expect(address.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/sfn-channel$/);
      const b = mesh.channel("back", { secret: testSecret });
      await b.connect(address.url, { tls: { ca: pki.ca } });
      expect(a.peers().map((p) => p.id)).toEqual(["back"]);
    } finally {
      await mesh.close();
      https.closeAllConnections();
      await new Promise((r) => https.close(r));
    }
  });

  it("a plain ws:// dialer against a wss:// listener fails cleanly, and the listener goes on", async () => {
    const server = pki.issue({ cn: "svc-a" });
    const a = mesh.channel("svc-a", { secret: testSecret });
    const seen = errors(a);
    const { url } = await a.listen({ port: 0, tls: { cert: server.cert, key: server.key } });
    const plain = mesh.channel("plain", { secret: testSecret });
    await expect(plain.connect(url.replace("wss:", "ws:"), { timeout: 1000 })).rejects.toMatchObject({ code: ErrorCode.CONNECT });
    expect(a.peers()).toEqual([]);
    const good = mesh.channel("good", { secret: testSecret });
    await good.connect(url, { tls: { ca: pki.ca } });
    expect(a.peers().map((p) => p.id)).toEqual(["good"]);
    expect(seen.filter((e) => e.code !== ErrorCode.TRANSPORT)).toEqual([]);
  });

  it("a dialer refuses a server certificate its CA did not sign", async () => {
    const forged = stranger.issue({ cn: "svc-a", services: ["svc-a"] });
    const a = mesh.channel("svc-a", { secret: testSecret });
    const { url } = await a.listen({ port: 0, tls: { cert: forged.cert, key: forged.key } });
    const b = mesh.channel("svc-b", { secret: testSecret });
    // The caller learns why: the certificate, not a silent timeout.
    await expect(b.connect(url, { tls: { ca: pki.ca }, timeout: 1000 })).rejects.toMatchObject({
      code: ErrorCode.CONNECT,
      message: expect.stringMatching(/last attempt: .*(certificate|verify)/i),
    });
    expect(a.peers()).toEqual([]);
  });

  it("an https:// URL is dialled as wss:// and takes the same TLS options", async () => {
    const server = pki.issue({ cn: "svc-a", services: ["svc-a"] });
    const a = mesh.channel("svc-a", { secret: testSecret });
    const { url } = await a.listen({ port: 0, tls: { cert: server.cert, key: server.key } });
    const b = mesh.channel("svc-b", { secret: testSecret });
    await b.connect(url.replace(/^wss:/, "https:"), { tls: { ca: pki.ca }, identity: true });
    await until(() => a.peers().length === 1, 5000, "the link");
  });

  it("refuses TLS options with a ws:// URL, and identity without wss://", async () => {
    const b = mesh.channel("svc-b");
    await expect(b.connect("ws://127.0.0.1:9/", { tls: { ca: pki.ca } })).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTION });
    await expect(b.connect("ws://127.0.0.1:9/", { identity: true })).rejects.toMatchObject({ code: ErrorCode.INVALID_OPTION });
    await expect(b.connect("wss://127.0.0.1:9/", { identity: true, tls: { rejectUnauthorized: false } })).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
    const http = await import("node:http");
    const shared = http.createServer();
    await expect(b.listen({ server: shared, tls: { cert: Buffer.alloc(0) } } as never)).rejects.toMatchObject({
      code: ErrorCode.INVALID_OPTION,
    });
  });
});

describe("mutual TLS: a certificate names the service id", () => {
  const serverCert = pki.issue({ cn: "svc-a", services: ["svc-a"] });
  const mtls = { cert: serverCert.cert, key: serverCert.key, ca: pki.ca, requestCert: true };

  it("the acceptor reads the ids a verified client certificate names; the dialer reads the server's with identity: true", async () => {
    const transport = new WsTransport();
    const accepted: TransportConnection[] = [];
    const listener = await transport.listen({ port: 0, tls: mtls }, limits, (t) => accepted.push(t));
    const client = pki.issue({ cn: "ignored-cn", services: ["svc-b", "svc-b2"] });
    const dialled = await transport.dial(listener.address.url, limits, {
      tls: { ca: pki.ca, cert: client.cert, key: client.key },
      identity: true,
    });
    await until(() => accepted.length === 1, 5000, "accepted");
    expect(accepted[0]?.peerIds).toEqual(["svc-b", "svc-b2"]);
    expect(dialled.peerIds).toEqual(["svc-a"]);
    dialled.terminate();
    await listener.close();
  });

  it("without identity: true a dialer leaves peerIds undefined; TLS without client certificates too", async () => {
    const transport = new WsTransport();
    const accepted: TransportConnection[] = [];
    const listener = await transport.listen({ port: 0, tls: { cert: serverCert.cert, key: serverCert.key } }, limits, (t) =>
      accepted.push(t),
    );
    const dialled = await transport.dial(listener.address.url, limits, { tls: { ca: pki.ca } });
    await until(() => accepted.length === 1, 5000, "accepted");
    expect(accepted[0]?.peerIds).toBeUndefined();
    expect(dialled.peerIds).toBeUndefined();
    dialled.terminate();
    await listener.close();
  });

  it("links a client whose certificate names its id", async () => {
    const a = mesh.channel("svc-a", { secret: testSecret });
    const { url } = await a.listen({ port: 0, tls: mtls });
    const client = pki.issue({ services: ["svc-b"] });
    const b = mesh.channel("svc-b", { secret: testSecret });
    await b.connect(url, { tls: { ca: pki.ca, cert: client.cert, key: client.key }, identity: true });
    expect(a.peers().map((p) => p.id)).toEqual(["svc-b"]);
  });

  it("refuses a client without a certificate", async () => {
    const a = mesh.channel("svc-a", { secret: testSecret });
    const { url } = await a.listen({ port: 0, tls: mtls });
    const b = mesh.channel("svc-b", { secret: testSecret });
    await expect(b.connect(url, { tls: { ca: pki.ca }, timeout: 1000 })).rejects.toMatchObject({ code: ErrorCode.CONNECT });
    expect(a.peers()).toEqual([]);
  });

  it("refuses a client whose certificate names svc-a but whose HELLO says svc-b", async () => {
    const a = mesh.channel("svc-acceptor", { secret: testSecret });
    const seen = errors(a);
    const { url } = await a.listen({ port: 0, tls: mtls });
    const client = pki.issue({ services: ["svc-a"] });
    const liar = mesh.channel("svc-b", { secret: testSecret });
    const refused = liar.connect(url, { tls: { ca: pki.ca, cert: client.cert, key: client.key }, timeout: 3000 });
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.IDENTITY });
    expect(a.peers()).toEqual([]);
    expect(seen.some((e) => e.code === ErrorCode.IDENTITY)).toBe(true);
  });

  it("a dialer with identity: true refuses a server whose certificate names another service", async () => {
    const other = pki.issue({ services: ["svc-x"] });
    const a = mesh.channel("svc-a", { secret: testSecret });
    const { url } = await a.listen({ port: 0, tls: { cert: other.cert, key: other.key } });
    const b = mesh.channel("svc-b", { secret: testSecret });
    await expect(b.connect(url, { tls: { ca: pki.ca }, identity: true, timeout: 3000 })).rejects.toMatchObject({
      code: ErrorCode.IDENTITY,
    });
    expect(b.peers()).toEqual([]);
  });
});

describe("peerIdsOf: the identity rule", () => {
  it("takes URI:sfn:service:<id> names, else the common name, never DNS names", () => {
    expect(
      peerIdsOf({ subject: { CN: "x" } as never, subjectaltname: "DNS:localhost, URI:sfn:service:a, URI:https://x, URI:sfn:service:b" }),
    ).toEqual(["a", "b"]);
    expect(peerIdsOf({ subject: { CN: "svc-c" } as never, subjectaltname: "DNS:svc-d, IP Address:127.0.0.1" })).toEqual(["svc-c"]);
    expect(peerIdsOf({ subject: { CN: ["a", "b"] } as never, subjectaltname: "" })).toEqual([]);
    expect(peerIdsOf({ subject: {} as never, subjectaltname: 'URI:"sfn:service:a, b"' })).toEqual(["a, b"]);
    expect(peerIdsOf(undefined)).toEqual([]);
  });
});

describe("ws floor", () => {
  it("refuses to start on a ws without the fragment and auto-pong caps (an older release ignores unknown options)", () => {
    jest.isolateModules(() => {
      jest.doMock("ws", () => {
        const real = jest.requireActual("ws");
        // ws 8.20: no maxFragments, maxBufferedChunks, maxPendingAutoPongs among the defaults.
        class OldServer extends real.WebSocketServer {
          constructor(options: object) {
            super(options);
            const o = (this as unknown as { options: Record<string, unknown> }).options;
            delete o.maxFragments;
            delete o.maxBufferedChunks;
            delete o.maxPendingAutoPongs;
          }
        }
        return { ...real, WebSocketServer: OldServer };
      });
      const { WsTransport: Old } = require("../src/transport/ws-transport.js") as typeof import("../src/transport/ws-transport.js");
      expect(() => new Old()).toThrow(/ws" is too old: it lacks maxFragments, maxBufferedChunks, maxPendingAutoPongs/);
    });
    jest.dontMock("ws");
  });
});
