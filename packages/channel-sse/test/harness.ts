import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { EventSource } from "eventsource";
import { MessageChannel } from "@sfn/channel-core";
import { ChainRunner, until } from "@sfn/test-utils";
import { withSse, type SseFrontEndOptions, type WithSse } from "../src/index.js";

/** An SSE front end: one HTTP server for the event streams (`/events?room=r`) and the channel links (`/sfn-channel`). */
export interface FrontEnd {
  id: string;
  port: number;
  url: string;
  http: Server;
  channel: WithSse<MessageChannel>;
  /** Status codes the events endpoint answered with. */
  statuses: number[];
  /** Errors the channel reported (codes). */
  errors: string[];
  /** Holds new event-stream requests unanswered (a browser reconnecting waits) until `release`. */
  hold(): void;
  /** `Last-Event-ID` headers of the held requests. */
  held(): (string | undefined)[];
  /** Answers the held requests and stops holding. */
  release(): void;
  /** Cuts the TCP connection of every stream of this client (the browser sees a network error and reconnects). */
  drop(clientId: string): void;
  close(): Promise<void>;
}

export async function startFrontEnd(id: string, options: SseFrontEndOptions & { port?: number } = {}): Promise<FrontEnd> {
  const { port: _port, ...sse } = options;
  const channel = withSse(new MessageChannel({ id }), { retry: 100, keepAlive: 0, ...sse });
  channel.sse.serve();
  const statuses: number[] = [];
  const errors: string[] = [];
  channel.on("error", (e) => errors.push(e.code));
  let holding = false;
  const held: [IncomingMessage, ServerResponse][] = [];
  const sockets = new Map<string, Set<IncomingMessage["socket"]>>();
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://x");
    const room = url.searchParams.get("room");
    const appId = url.searchParams.get("id");
    res.once("finish", () => statuses.push(res.statusCode));
    const client = channel.sse.connect(req, res, { rooms: room ? [room] : [], id: appId ?? undefined });
    if (!client) return;
    statuses.push(200);
    let set = sockets.get(client.id);
    if (!set) sockets.set(client.id, (set = new Set()));
    set.add(req.socket);
  };
  const http = createServer((req, res) => {
    if (new URL(req.url ?? "/", "http://x").pathname !== "/events") return void res.writeHead(404).end();
    if (holding) held.push([req, res]);
    else serve(req, res);
  });
  await new Promise<void>((r) => http.listen(options.port ?? 0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  const { url } = await channel.listen({ server: http, path: "/sfn-channel" });
  return {
    id,
    port,
    url,
    http,
    channel,
    statuses,
    errors,
    hold: () => void (holding = true),
    held: () => held.map(([req]) => req.headers["last-event-id"] as string | undefined),
    release: () => {
      holding = false;
      for (const [req, res] of held.splice(0)) serve(req, res);
    },
    drop: (clientId) => {
      for (const socket of sockets.get(clientId) ?? []) socket.destroy();
      sockets.delete(clientId);
    },
    close: async () => {
      await channel.close({ drainTimeout: 0 });
      channel.sse.unserve();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

/** A real `eventsource` client that records what it receives. */
export interface Browser {
  es: EventSource;
  id: string;
  events: { type: string; data: string; lastEventId: string }[];
  got(type: string): string[];
}

export async function browser(fe: FrontEnd, query = ""): Promise<Browser> {
  const es = new EventSource(`http://127.0.0.1:${fe.port}/events${query}`);
  const events: Browser["events"] = [];
  const record = (type: string) => (e: MessageEvent) => events.push({ type, data: String(e.data), lastEventId: e.lastEventId });
  for (const type of ["message", "greeting", "news", "room", "direct", "sfn-client", "sfn-gap", "marker", "x"])
    es.addEventListener(type, record(type));
  await until(() => events.some((e) => e.type === "sfn-client"), 10_000, "sfn-client event");
  const id = (JSON.parse(events.find((e) => e.type === "sfn-client")!.data) as { id: string }).id;
  return { es, id, events, got: (type) => events.filter((e) => e.type === type).map((e) => e.data) };
}

/** A raw HTTP read of an event stream: exactly the bytes on the wire. */
export interface RawStream {
  text: () => string;
  status: number;
  end(): void;
}

export function rawStream(port: number, headers: Record<string, string> = {}, path = "/events"): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    let text = "";
    const req = request({ host: "127.0.0.1", port, path, headers: { Accept: "text/event-stream", ...headers } }, (res) => {
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("error", () => {});
      resolve({ text: () => text, status: res.statusCode ?? 0, end: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

const fixture = join(__dirname, "fixtures/publisher.ts");

/** The publisher service in its own process, running operator chains on `message.sse`. */
export type Publisher = ChainRunner;
export const Publisher = { start: (urls: string[]): Promise<ChainRunner> => ChainRunner.start(fixture, urls) };

export { until };
