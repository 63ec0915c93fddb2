import { createServer, request, type Server } from "node:http";
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
  close(): Promise<void>;
}

export async function startFrontEnd(id: string, options: SseFrontEndOptions & { port?: number } = {}): Promise<FrontEnd> {
  const channel = withSse(new MessageChannel({ id }), { retry: 100, keepAlive: 0, ...options });
  channel.on("error", () => {});
  channel.sse.serve();
  const statuses: number[] = [];
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== "/events") return void res.writeHead(404).end();
    const room = url.searchParams.get("room");
    const appId = url.searchParams.get("id");
    res.once("finish", () => statuses.push(res.statusCode));
    const client = channel.sse.connect(req, res, { rooms: room ? [room] : [], id: appId ?? undefined });
    if (client) statuses.push(200);
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
  for (const type of ["message", "greeting", "news", "sfn-client", "sfn-gap", "marker", "x"]) es.addEventListener(type, record(type));
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
