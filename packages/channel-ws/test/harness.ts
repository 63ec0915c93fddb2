import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Server } from "socket.io";
import { io as connectClient, type Socket } from "socket.io-client";
import { MessageChannel } from "@sfn/channel-core";
import { ChainRunner, until } from "@sfn/test-utils";
import { withWs, type WithWs } from "../src/index.js";

/** A WebSocket front end: HTTP server, Socket.IO server and channel on the same port. */
export interface FrontEnd {
  id: string;
  port: number;
  url: string;
  http: HttpServer;
  io: Server;
  channel: WithWs<MessageChannel>;
  close(): Promise<void>;
}

export async function startFrontEnd(
  id: string,
  options: { port?: number; adapter?: Parameters<Server["adapter"]>[0] } = {},
): Promise<FrontEnd> {
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"] });
  if (options.adapter) io.adapter(options.adapter);
  // Clients answer "whoami" with their own socket id; some tests rely on it.
  io.on("connection", (socket) => {
    socket.data = { user: `user-of-${socket.id}` };
    socket.on("join", (room: string) => socket.join(room));
  });
  io.of("/admin").on("connection", () => {});
  await new Promise<void>((r) => http.listen(options.port ?? 0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  const channel = withWs(new MessageChannel({ id }));
  channel.on("error", () => {});
  const { url } = await channel.listen({ server: http, path: "/sfn-channel" });
  channel.ws.serve(io);
  return {
    id,
    port,
    url,
    http,
    io,
    channel,
    close: async () => {
      await channel.close({ drainTimeout: 0 });
      io.disconnectSockets(true);
      await new Promise<void>((r) => io.close(() => r()));
    },
  };
}

/** A real socket.io-client connection that records every event it receives. */
export interface Client {
  socket: Socket;
  events: { ev: string; args: unknown[] }[];
  got(ev: string): unknown[][];
}

export async function connect(port: number, nsp = "/", options: { silent?: boolean } = {}): Promise<Client> {
  const socket = connectClient(`http://127.0.0.1:${port}${nsp}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
  });
  const events: Client["events"] = [];
  socket.onAny((ev: string, ...args: unknown[]) => {
    if (typeof args[args.length - 1] === "function") {
      const ack = args.pop() as (v: unknown) => void;
      // A silent client never acknowledges anything.
      if (!options.silent) ack(`${socket.id}:${String(args[0])}`);
    }
    events.push({ ev, args });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return { socket, events, got: (ev) => events.filter((e) => e.ev === ev).map((e) => e.args) };
}

const fixture = join(__dirname, "fixtures/publisher.ts");

/** The publisher service in its own process, running operator chains on `message.ws`. */
export type Publisher = ChainRunner;
export const Publisher = { start: (urls: string[]): Promise<ChainRunner> => ChainRunner.start(fixture, urls) };

/** Resolves once `check()` holds; a settle period then proves nothing more arrives. */
export async function settled(check: () => boolean, what: string): Promise<void> {
  await until(check, 10_000, what);
}
export { until };
