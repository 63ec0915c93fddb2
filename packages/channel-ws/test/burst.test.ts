import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { io as connectClient } from "socket.io-client";
import { MessageChannel } from "@sfn/channel-core";
import { withWs } from "../src/index.js";
import { connect, startFrontEnd, until, type Client, type FrontEnd } from "./harness.js";

// A burst: operations published in one tick travel in one link frame and are applied together.
describe("a burst of emits on a served front end", () => {
  let web: FrontEnd;
  let pub: ReturnType<typeof withWs<MessageChannel>>;
  const clients: Client[] = [];

  beforeAll(async () => {
    web = await startFrontEnd("web-burst");
    pub = withWs(new MessageChannel({ id: "burst-pub" }));
    await pub.connect(web.url);
    await until(() => pub.ws.servers().includes("web-burst"), 5000, "front end known");
    for (let i = 0; i < 3; i++) clients.push(await connect(web.port));
  });

  afterAll(async () => {
    for (const c of clients) c.socket.disconnect();
    await pub.close({ drainTimeout: 0 });
    await web.close();
  });

  it("reaches every client complete and in order", async () => {
    for (let i = 0; i < 300; i++) pub.ws.emit("seq", i);
    const all = Array.from({ length: 300 }, (_, i) => [i]);
    await until(() => clients.every((c) => c.got("seq").length >= 300), 10_000, "burst");
    for (const c of clients) expect(c.got("seq")).toEqual(all);
  });

  it("is written to each client in a few system calls, not one per event", async () => {
    // The server side of one client's connection: engine.io socket → WebSocket transport → ws → TCP socket.
    const engineSocket = (web.io.of("/").sockets.get(clients[0]!.socket.id!) as unknown as { conn: unknown }).conn as {
      transport: { socket: { _socket: { _writev: (...a: unknown[]) => unknown } } };
    };
    const tcp = engineSocket.transport.socket._socket;
    let writes = 0;
    const writev = tcp._writev;
    tcp._writev = function (this: unknown, ...a: unknown[]) {
      writes++;
      return writev.apply(this, a);
    };
    try {
      const before = clients[0]!.got("n").length;
      for (let i = 0; i < 100; i++) pub.ws.emit("n", i);
      await until(() => clients[0]!.got("n").length >= before + 100, 10_000, "burst of 100");
      // Without coalescing each event is its own writev (100); with it, the first event and then the rest.
      expect(writes).toBeLessThanOrEqual(5);
    } finally {
      tcp._writev = writev;
    }
  });

  it("unserve() stops coalescing, and serve(io, { coalesceWrites: false }) does not start it", () => {
    const engine = web.io.engine as unknown as { listenerCount(ev: string): number };
    const flushBefore = engine.listenerCount("flush");
    web.channel.ws.unserve();
    expect(engine.listenerCount("flush")).toBe(flushBefore - 1);
    expect(engine.listenerCount("drain")).toBe(0);
    web.channel.ws.serve(web.io, { coalesceWrites: false });
    expect(engine.listenerCount("flush")).toBe(flushBefore - 1);
    web.channel.ws.unserve();
    web.channel.ws.serve(web.io);
    expect(engine.listenerCount("flush")).toBe(flushBefore);
  });
});

describe("a burst to clients on the HTTP long-polling transport", () => {
  it("arrives complete and in order (only WebSocket clients are corked)", async () => {
    const http = createServer();
    const io = new Server(http); // polling and websocket, as Socket.IO's default
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const port = (http.address() as AddressInfo).port;
    const web = withWs(new MessageChannel({ id: "web-polling" }));
    const { url } = await web.listen({ server: http, path: "/sfn-channel" });
    web.ws.serve(io);
    const pub = withWs(new MessageChannel({ id: "polling-pub" }));
    const socket = connectClient(`http://127.0.0.1:${port}`, { transports: ["polling"], forceNew: true });
    try {
      await pub.connect(url);
      await until(() => pub.ws.servers().includes("web-polling"), 5000, "front end known");
      const got: number[] = [];
      socket.on("seq", (n: number) => got.push(n));
      if (!socket.connected) await new Promise<void>((r) => socket.once("connect", () => r()));
      expect(socket.io.engine.transport.name).toBe("polling");
      for (let i = 0; i < 200; i++) pub.ws.emit("seq", i);
      await until(() => got.length >= 200, 10_000, "burst over polling");
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
    } finally {
      // The polling client says goodbye with one more HTTP request: wait for it to finish.
      const engine = socket.io.engine;
      const closed = new Promise<void>((r) => (engine && engine.readyState !== "closed" ? engine.once("close", () => r()) : r()));
      socket.disconnect();
      await closed;
      await pub.close({ drainTimeout: 0 });
      await web.close({ drainTimeout: 0 });
      await new Promise<void>((r) => io.close(() => r()));
    }
  });
});
