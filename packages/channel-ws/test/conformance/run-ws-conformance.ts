/**
 * `message.ws` behaviour every router must give (see channel-core's run-conformance.ts): two
 * Socket.IO front ends and an operator with no browser connections, built by the router's
 * `make`. Imports go through package names (other packages run this file too).
 */
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { MessageChannel } from "@sfn/channel-core";
import { internals } from "@sfn/channel-core/internal";
import { until } from "@sfn/test-utils";
import { Server } from "socket.io";
import { io as connectClient, type Socket } from "socket.io-client";
import { withWs, type WithWs } from "../../src/index.js";
import { type MakeChannels, reach } from "../../../channel-core/test/conformance/run-conformance.js";

/** A Socket.IO client that records what it receives; it answers acks unless silent. */
export interface Client {
  socket: Socket;
  got(event: string): unknown[][];
}

/** A WebSocket front end on a channel: HTTP and Socket.IO server on port 0, `ws.serve(io)`. */
export interface FrontEnd {
  channel: WithWs<MessageChannel>;
  http: HttpServer;
  io: Server;
  port: number;
}

/** Makes `channel` a WebSocket front end. */
export async function startWsFrontEnd(channel: MessageChannel): Promise<FrontEnd> {
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"] });
  io.on("connection", (socket) => {
    socket.on("join", (room: string, done: () => void) => {
      socket.join(room);
      done();
    });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const ws = withWs(channel);
  ws.ws.serve(io);
  return { channel: ws, http, io, port: (http.address() as AddressInfo).port };
}

/** Connects a Socket.IO client to a front end's port; a silent one never acknowledges. */
export async function connectWsClient(fe: { port: number }, silent = false): Promise<Client> {
  const socket = connectClient(`http://127.0.0.1:${fe.port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
  const events: { ev: string; args: unknown[] }[] = [];
  socket.onAny((ev: string, ...args: unknown[]) => {
    if (typeof args[args.length - 1] === "function") {
      const ack = args.pop() as (v: unknown) => void;
      if (!silent) ack(`${socket.id}:${String(args[0])}`);
    }
    events.push({ ev, args });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return { socket, got: (ev) => events.filter((e) => e.ev === ev).map((e) => e.args) };
}

/** Runs the `message.ws` conformance tests against the channels `make` builds. */
export function runWsConformance(name: string, make: MakeChannels): void {
  describe(`message.ws conformance: ${name}`, () => {
    let close: (() => Promise<void>) | undefined;
    let fe1: FrontEnd;
    let fe2: FrontEnd;
    let op: WithWs<MessageChannel>;
    const clients: Client[] = [];

    beforeEach(async () => {
      const group = await make(["ws-front-1", "ws-front-2", "ws-operator"]);
      const [c1, c2, c3] = group.channels as [MessageChannel, MessageChannel, MessageChannel];
      for (const c of group.channels) c.on("error", () => {});
      fe1 = await startWsFrontEnd(c1);
      fe2 = await startWsFrontEnd(c2);
      op = withWs(c3);
      close = async () => {
        for (const c of clients.splice(0)) c.socket.disconnect();
        await group.close();
        for (const fe of [fe1, fe2]) {
          fe.io.disconnectSockets(true);
          await new Promise<void>((r) => fe.io.close(() => r()));
        }
      };
      // The operator knows both front ends (what `via` and the request's expected set use),
      // and both know the operator's interest in replies.
      await until(() => ["ws-front-1", "ws-front-2"].every((id) => internals(op).servers("$sfn.ws.op").includes(id)), 20_000, "front ends");
      await reach(fe1.channel, op);
      await reach(fe2.channel, op);
    });
    afterEach(async () => {
      await close?.();
      close = undefined;
    });

    const open = async (fe: FrontEnd, silent = false): Promise<Client> => {
      const c = await connectWsClient(fe, silent);
      clients.push(c);
      return c;
    };
    /** A marker after everything else: once every client has it, everything earlier arrived. */
    const flushed = async (who: Client[]): Promise<void> => {
      const tag = Math.random().toString(36).slice(2);
      op.ws.emit("marker", tag);
      await until(() => who.every((c) => c.got("marker").some((a) => a[0] === tag)), 20_000, "marker");
    };

    it("emit without via reaches every client of every front end exactly once", async () => {
      const [a, b, c] = [await open(fe1), await open(fe1), await open(fe2)];
      expect(op.ws.emit("news", { n: 1 })).toBe(true);
      await flushed([a, b, c]);
      for (const x of [a, b, c]) expect(x.got("news")).toEqual([[{ n: 1 }]]);
    });

    it("via picks one front end; to(socket id) reaches that one client", async () => {
      const [a, b, c] = [await open(fe1), await open(fe1), await open(fe2)];
      op.ws.via("ws-front-1").emit("only-1", 1);
      op.ws.via("ws-front-1").to(a.socket.id!).emit("only-a", 2);
      await flushed([a, b, c]);
      expect([a.got("only-1"), b.got("only-1"), c.got("only-1")]).toEqual([[[1]], [[1]], []]);
      expect([a.got("only-a"), b.got("only-a"), c.got("only-a")]).toEqual([[[2]], [], []]);
    });

    it("fetchSockets describes every client of every front end, naming its front end", async () => {
      const [a, c] = [await open(fe1), await open(fe2)];
      const found = await op.ws.fetchSockets();
      expect(found.map((s) => [s.id, s.server]).sort()).toEqual(
        [
          [a.socket.id, "ws-front-1"],
          [c.socket.id, "ws-front-2"],
        ].sort(),
      );
      const viaTwo = await op.ws.via("ws-front-2").fetchSockets();
      expect(viaTwo.map((s) => s.id)).toEqual([c.socket.id]);
    });

    it("timeout(ms).emitWithAck resolves with every client's answer from every front end", async () => {
      const [a, b] = [await open(fe1), await open(fe2)];
      const answers = await op.ws.timeout(5000).emitWithAck("question", 42);
      expect((answers as string[]).sort()).toEqual([`${a.socket.id}:42`, `${b.socket.id}:42`].sort());
    });

    it("emitWithAck that times out names the front end that did not answer in full, and the one that did", async () => {
      await open(fe1);
      await open(fe2, true);
      const error = await op.ws
        .timeout(300)
        .emitWithAck("question", 1)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toMatchObject({ code: "ERR_WS_TIMEOUT", missing: ["ws-front-2"], answered: ["ws-front-1"], received: 1 });
    });

    it("a front end that closes cleanly during emitWithAck is not waited for: the others' answers resolve it", async () => {
      const a = await open(fe1);
      await open(fe2, true);
      // Were fe2 still waited for, the timeout would reject naming it in `missing`; the timeout is
      // short because fe2's Socket.IO server keeps its own timer for the silent client's ack.
      const answers = op.ws.timeout(1000).emitWithAck("question", 7);
      await until(() => a.got("question").length === 1, 20_000, "the question at fe1's client");
      await fe2.channel.close();
      expect(await answers).toEqual([`${a.socket.id}:7`]);
    });

    it("a via naming an unknown front end rejects a request with ERR_WS_UNKNOWN_SERVER and sends nothing", async () => {
      const a = await open(fe1);
      await expect(op.ws.via(["ws-front-1", "ws-nowhere"]).fetchSockets()).rejects.toMatchObject({ code: "ERR_WS_UNKNOWN_SERVER" });
      op.ws.via(["ws-front-1", "ws-nowhere"]).emit("never", 1);
      await flushed([a]);
      expect(a.got("never")).toEqual([]);
    });
  });
}
