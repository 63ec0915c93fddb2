import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { randomBytes } from "node:crypto";
import { nanoid } from "nanoid";
import { SseError, SseErrorCode } from "./errors.js";
import { EventHistory } from "./history.js";
import type { SseOperation } from "./protocol.js";
import { SseClient, type SseClientHost, type SseCloseReason, type SseResponse } from "./sse-client.js";
import { assertField, eventBody, jsonSerializer, retryField, type Serializer } from "./sse-frame.js";

/** Options of an SSE front end. */
export interface SseFrontEndOptions {
  /** Reconnect delay the browser is told (`retry:`), in ms. @default 3000 */
  retry?: number;
  /** Interval of keep-alive comments, in ms (0: none). @default 15000 */
  keepAlive?: number;
  /** Events kept for `Last-Event-ID` replay. @default 1000 */
  historySize?: number;
  /** Longest an event is kept for replay, in ms. @default 300000 */
  historyAge?: number;
  /** Bytes a slow client may have waiting before it is disconnected. @default 1 MiB */
  maxBufferBytes?: number;
  /** How long a closed client's reconnects are refused with 204, in ms. @default 300000 */
  closedTtl?: number;
  /** Turns non-string data into text. @default JSON */
  serialize?: Serializer;
}

/** Options of one `connect` call. */
export interface SseConnectOptions {
  /** The client id to use (for example a user or session id); else one is restored from `Last-Event-ID` or generated. */
  id?: string;
  /** Rooms to join at once. */
  rooms?: string[];
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/** Name of the first event of every stream: `{ id, server }`, so the browser learns its client id. */
export const CLIENT_EVENT = "sfn-client";
/** Event sent after a reconnect whose gap cannot be filled: `{ lastEventId, reason }`. */
export const GAP_EVENT = "sfn-gap";

// Closed ids remembered at most (oldest forgotten first), so closes cannot grow memory without bound.
const MAX_CLOSED = 100_000;

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/**
 * The front-end side: accepts SSE connections, keeps clients and rooms, numbers every event
 * and keeps a bounded history for `Last-Event-ID`, and applies operations from publishers.
 */
export class SseFrontEnd implements SseClientHost {
  /** Random tag of this front-end instance; ids from another front end or instance do not match it. */
  readonly tag = randomBytes(6).toString("base64url").replace(/[-_]/g, "x");
  readonly maxBufferBytes: number;
  private seq = 0;
  private readonly clients = new Map<string, Set<SseClient>>();
  private readonly rooms = new Map<string, Set<SseClient>>();
  private readonly closedIds = new Map<string, number>();
  private readonly history: EventHistory;
  private readonly retry: number;
  private readonly closedTtl: number;
  private readonly serialize: Serializer;
  private readonly keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly server: string,
    options: SseFrontEndOptions,
    private readonly report: (e: SseError) => void,
  ) {
    this.retry = options.retry ?? 3000;
    this.maxBufferBytes = options.maxBufferBytes ?? 1024 * 1024;
    this.closedTtl = options.closedTtl ?? 300_000;
    this.serialize = options.serialize ?? jsonSerializer;
    this.history = new EventHistory(options.historySize ?? 1000, options.historyAge ?? 300_000);
    const keepAlive = options.keepAlive ?? 15_000;
    if (keepAlive > 0) {
      this.keepAliveTimer = setInterval(() => this.forEachClient((c) => c.ping()), keepAlive);
      this.keepAliveTimer.unref();
    }
  }

  /** Number of open streams. */
  get size(): number {
    let n = 0;
    for (const set of this.clients.values()) n += set.size;
    return n;
  }

  /** Every open stream. */
  list(): SseClient[] {
    return [...this.clients.values()].flatMap((s) => [...s]);
  }

  /**
   * Turns a request/response pair into an event stream. Returns undefined if the client was
   * closed recently (answered 204, which tells the browser to stop reconnecting).
   */
  connect(req: Request, res: Response, options: SseConnectOptions = {}): SseClient | undefined {
    const lastEventId = header(req, "last-event-id");
    const resumed = lastEventId ? this.parseId(lastEventId) : undefined;
    const id = options.id ?? resumed?.client ?? nanoid();
    assertField("client id", id);
    const out = res as unknown as SseResponse & { writeHead(status: number, headers?: Record<string, string>): void; flushHeaders?(): void };
    if (this.isClosed(id)) {
      out.writeHead(204, { "Cache-Control": "no-store" });
      out.end();
      return undefined;
    }
    const headers: Record<string, string> = {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
      ...options.headers,
    };
    // HTTP/2 forbids connection-specific headers.
    if (req.httpVersionMajor < 2) headers.Connection = "keep-alive";
    out.writeHead(200, headers);
    out.flushHeaders?.();
    (req.socket as { setNoDelay?: (b: boolean) => void } | undefined)?.setNoDelay?.(true);

    const client = new SseClient(this, out, id);
    let set = this.clients.get(id);
    if (!set) this.clients.set(id, (set = new Set()));
    set.add(client);
    for (const room of options.rooms ?? []) client.join(room);

    client.write(retryField(this.retry));
    if (lastEventId) this.replay(client, lastEventId, resumed);
    // Last, so the browser's Last-Event-ID ends at the newest number (a replay never repeats).
    client.writeEventBody(this.seq, CLIENT_EVENT, JSON.stringify({ id, server: this.server }));
    return client;
  }

  /** Applies an operation from a publisher (or from this service itself). */
  apply(op: SseOperation): void {
    if (op.t === "send") this.deliver(op.event, op.data, op.to);
    else this.close(op.to);
  }

  /** Sends an event to every client, or to the clients and rooms named in `to`. */
  deliver(event: string | undefined, data: unknown, to?: readonly string[]): number {
    const recipients = to ? this.resolve(to) : this.list();
    const { n, body } = this.record(event, data, to ? new Set(recipients.map((c) => c.id)) : "all");
    for (const c of recipients) c.writeEvent(n, body);
    return recipients.length;
  }

  /** Closes every client, or those named in `to` (ids or rooms); their reconnects get 204. */
  close(to?: readonly string[]): void {
    const victims = to ? this.resolve(to) : this.list();
    const now = Date.now();
    // Ids this front end does not hold are remembered too: a reconnect may land here.
    for (const name of to ?? []) this.remember(name, now);
    for (const c of victims) {
      this.remember(c.id, now);
      c.end("closed");
    }
  }

  /** Ends every stream (the front end stops). */
  shutdown(): void {
    clearInterval(this.keepAliveTimer);
    for (const c of this.list()) c.end("shutdown");
  }

  // ---- SseClientHost --------------------------------------------------------------------------

  eventId(n: number, client: string): string {
    return `${this.tag}.${n}.${client}`;
  }

  sendTo(client: SseClient, event: string | undefined, data: unknown): boolean {
    const { n, body } = this.record(event, data, new Set([client.id]));
    return client.writeEvent(n, body);
  }

  joined(client: SseClient, room: string): void {
    let set = this.rooms.get(room);
    if (!set) this.rooms.set(room, (set = new Set()));
    set.add(client);
  }

  left(client: SseClient, room: string): void {
    const set = this.rooms.get(room);
    set?.delete(client);
    if (set?.size === 0) this.rooms.delete(room);
  }

  gone(client: SseClient, reason: SseCloseReason): void {
    const set = this.clients.get(client.id);
    set?.delete(client);
    if (set?.size === 0) this.clients.delete(client.id);
    for (const room of client.rooms) this.left(client, room);
    if (reason === "closed") this.remember(client.id, Date.now());
    if (reason === "slow") {
      this.report(new SseError(SseErrorCode.SLOW_CLIENT, `SSE client "${client.id}" was disconnected: more than ${this.maxBufferBytes} bytes waited for it`));
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Numbers an event, formats its body once for every recipient, and keeps it for replay. */
  private record(event: string | undefined, data: unknown, audience: "all" | ReadonlySet<string>): { n: number; body: string } {
    let text: string;
    try {
      text = this.serialize(data);
    } catch (cause) {
      throw new SseError(SseErrorCode.SERIALIZE, `SSE data cannot be serialized: ${(cause as Error)?.message}`, { cause });
    }
    const body = eventBody(event, text);
    const n = ++this.seq;
    this.history.add({ n, body, audience, at: Date.now() });
    return { n, body };
  }

  private resolve(names: readonly string[]): SseClient[] {
    const out = new Set<SseClient>();
    for (const name of names) {
      for (const c of this.clients.get(name) ?? []) out.add(c);
      for (const c of this.rooms.get(name) ?? []) out.add(c);
    }
    return [...out];
  }

  private forEachClient(fn: (c: SseClient) => void): void {
    for (const set of this.clients.values()) for (const c of set) fn(c);
  }

  private parseId(id: string): { tag: string; n: number; client: string } | undefined {
    const a = id.indexOf(".");
    const b = id.indexOf(".", a + 1);
    if (a <= 0 || b <= a + 1 || b === id.length - 1) return undefined;
    const n = Number(id.slice(a + 1, b));
    if (!Number.isSafeInteger(n) || n < 0) return undefined;
    return { tag: id.slice(0, a), n, client: id.slice(b + 1) };
  }

  private replay(client: SseClient, lastEventId: string, parsed: ReturnType<SseFrontEnd["parseId"]>): void {
    const gap = (reason: string): void => client.writeEventBody(this.seq, GAP_EVENT, JSON.stringify({ lastEventId, reason }));
    if (!parsed) return gap("unknown-id");
    if (parsed.tag !== this.tag) return gap("other-server-or-restart");
    if (parsed.client !== client.id) return gap("other-client");
    const r = this.history.since(parsed.n, client.id);
    if (!r.ok) return gap(r.reason);
    for (const e of r.entries) client.writeEvent(e.n, e.body);
  }

  private remember(id: string, now: number): void {
    this.closedIds.delete(id);
    this.closedIds.set(id, now + this.closedTtl);
    if (this.closedIds.size > MAX_CLOSED) {
      const oldest = this.closedIds.keys().next().value;
      if (oldest !== undefined) this.closedIds.delete(oldest);
    }
  }

  private isClosed(id: string): boolean {
    const until = this.closedIds.get(id);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.closedIds.delete(id);
    return false;
  }
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
