import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { stringList } from "@sfn/channel-core/internal";
import { SseError, SseErrorCode } from "./errors.js";
import { claimedClient, EventIds, MAX_EVENT_ID_LENGTH, newClientId } from "./event-id.js";
import { EventHistory, type HistoryEntry } from "./history.js";
import { checkConnectOptions, checkOptions } from "./options.js";
import type { SseOperation } from "./protocol.js";
import { SseClient, type SseClientHost, type SseCloseReason, type SseResponse } from "./sse-client.js";
import { eventBody, jsonSerializer, retryField, type Serializer } from "./sse-frame.js";

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
  /** Bytes of events kept for replay (bodies plus addressing). @default 8 MiB */
  historyBytes?: number;
  /** Largest serialized event (`event:` and `data:` lines, UTF-8 bytes); larger ones are refused (`ERR_SSE_TOO_LARGE`). @default 1 MiB */
  maxEventBytes?: number;
  /** Bytes a slow client may have waiting (judged when the event-loop turn ends) before it is disconnected. @default 1 MiB */
  maxBufferBytes?: number;
  /** How long a closed client's reconnects are refused with 204, in ms. @default 300000 */
  closedTtl?: number;
  /** Turns non-string data into text. @default JSON */
  serialize?: Serializer;
  /**
   * Key (at least 16 bytes; 32 random bytes recommended) that signs client ids inside event ids.
   * Front ends that share it, or a restarted one that keeps it, restore each other's client ids
   * from `Last-Event-ID`. @default random per process
   */
  idKey?: string | Uint8Array;
}

/** Options of one `connect` call. */
export interface SseConnectOptions {
  /**
   * The client id to use (for example a user or session id from your own authentication; at
   * most 256 UTF-8 bytes); else one is restored from a signed `Last-Event-ID` or generated.
   */
  id?: string;
  /** Rooms to join at once: a room name or an array of them. */
  rooms?: string | readonly string[];
  /** Extra response headers (names to string values). */
  headers?: Record<string, string>;
}

/** Name of the first event of every stream: `{ id, server }`, so the browser learns its client id. */
export const CLIENT_EVENT = "sfn-client";
/** Event sent after a reconnect whose gap cannot be filled: `{ lastEventId, reason }`. */
export const GAP_EVENT = "sfn-gap";

/** Why a reconnect's gap could not be filled (the `reason` of an `sfn-gap` event). */
export type SseGapReason =
  /** The `Last-Event-ID` is malformed, overlong, or not signed with this front end's `idKey`. */
  | "unknown-id"
  /** Signed, but numbered by another front end or before a restart: this history does not continue it. */
  | "other-server-or-restart"
  /** The application gave this stream another client id than the one in `Last-Event-ID`. */
  | "other-client"
  /** Events after it were evicted from the history (count, age or bytes) before they could be replayed. */
  | "history-exceeded";

// Closed ids remembered at most (oldest forgotten first), so closes cannot grow memory without bound.
const MAX_CLOSED = 100_000;
// Departed clients whose rooms are remembered for replay at most (oldest forgotten first).
const MAX_DEPARTED = 100_000;

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** The rooms of a client whose stream ended, kept for the history window so a reconnect replays their events. */
interface Departed {
  rooms: ReadonlyMap<string, number>;
  until: number;
}

/**
 * The front-end side: accepts SSE connections, keeps clients and rooms, numbers every event
 * and keeps a bounded history for `Last-Event-ID`, and applies operations from publishers.
 */
export class SseFrontEnd implements SseClientHost {
  /** Random tag of this front-end instance; event numbers from another front end or instance do not match it. */
  readonly tag: string;
  readonly maxBufferBytes: number;
  /** Largest serialized event, in bytes. */
  readonly maxEventBytes: number;
  private sequence = 0;
  private readonly ids: EventIds;
  private readonly clients = new Map<string, Set<SseClient>>();
  private readonly rooms = new Map<string, Set<SseClient>>();
  private readonly closedIds = new Map<string, number>();
  private readonly departed = new Map<string, Departed>();
  private readonly history: EventHistory;
  private readonly historyAge: number;
  private readonly retry: number;
  private readonly closedTtl: number;
  private readonly serialize: Serializer;
  private readonly keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly server: string,
    options: SseFrontEndOptions,
    private readonly report: (e: SseError) => void,
  ) {
    checkOptions(options);
    this.ids = new EventIds(options.idKey);
    this.tag = this.ids.epoch;
    this.retry = options.retry ?? 3000;
    this.maxBufferBytes = options.maxBufferBytes ?? 1024 * 1024;
    this.maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
    this.closedTtl = options.closedTtl ?? 300_000;
    this.serialize = options.serialize ?? jsonSerializer;
    this.historyAge = options.historyAge ?? 300_000;
    this.history = new EventHistory({
      maxEvents: options.historySize ?? 1000,
      maxAge: this.historyAge,
      maxBytes: options.historyBytes ?? 8 * 1024 * 1024,
    });
    const keepAlive = options.keepAlive ?? 15_000;
    if (keepAlive > 0) {
      this.keepAliveTimer = setInterval(() => this.forEachClient((c) => c.ping()), keepAlive);
      this.keepAliveTimer.unref();
    }
  }

  /** Number of the newest event. */
  get seq(): number {
    return this.sequence;
  }

  /** Number of open streams. */
  get size(): number {
    let n = 0;
    for (const set of this.clients.values()) n += set.size;
    return n;
  }

  /** What the replay history holds now: events and the bytes they are charged. */
  get historyUsage(): { events: number; bytes: number } {
    return { events: this.history.size, bytes: this.history.bytes };
  }

  /** Every open stream. */
  list(): SseClient[] {
    return [...this.clients.values()].flatMap((s) => [...s]);
  }

  /**
   * Turns a request/response pair into an event stream. Returns undefined if the client was
   * closed recently (answered 204, which tells the browser to stop reconnecting). Options it
   * cannot honour (an unknown key, a wrong type, an id or room name no client can have) throw
   * before anything is written: the response is the caller's to answer.
   */
  connect(req: Request, res: Response, options: SseConnectOptions = {}): SseClient | undefined {
    checkConnectOptions(options);
    const header = lastEventIdOf(req);
    const restored = header === undefined ? undefined : this.ids.verify(header);
    const id = options.id ?? restored?.client ?? newClientId();
    const out = res as unknown as SseResponse & {
      writeHead(status: number, headers?: Record<string, string>): void;
      flushHeaders?(): void;
    };
    // The claimed id is enough to refuse: presenting a closed client's id only stops that browser.
    const claimed = header === undefined ? undefined : claimedClient(header);
    if (this.isClosed(id) || (claimed !== undefined && this.isClosed(claimed))) {
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

    const client = new SseClient(this, out, id, this.ids.suffix(id));
    let set = this.clients.get(id);
    if (!set) this.clients.set(id, (set = new Set()));
    set.add(client);
    for (const room of stringList(options.rooms) ?? []) client.join(room);

    client.write(retryField(this.retry));
    let gap: SseGapReason | undefined;
    if (header !== undefined) {
      if (!restored) gap = "unknown-id";
      else if (restored.epoch !== this.tag) gap = "other-server-or-restart";
      else if (restored.client !== id) gap = "other-client";
    }
    const resume = header !== undefined && restored && gap === undefined ? restored.n : undefined;
    // First, so the browser learns its id at once. Numbered where the replay starts: if the
    // stream drops during the replay, the next reconnect resumes from there.
    client.writeEventBody(resume ?? this.sequence, CLIENT_EVENT, JSON.stringify({ id, server: this.server }));
    if (header !== undefined && gap !== undefined) this.writeGap(client, header, gap);
    else if (header !== undefined && resume !== undefined) client.startReplay(header, resume, this.departedRooms(id));
    return client;
  }

  /** Applies an operation from a publisher (or from this service itself). Throws {@link SseError} for data it cannot send. */
  apply(op: SseOperation): void {
    if (op.t === "send") this.deliver(op.event, op.data, op.to, op.rooms);
    else this.close(op.to, op.rooms);
  }

  /**
   * Sends an event to every client, or to the clients named in `to` and the members of `rooms`.
   * Throws {@link SseError} (`ERR_SSE_SERIALIZE`, `ERR_SSE_TOO_LARGE`) before anything is sent.
   */
  deliver(event: string | undefined, data: unknown, to?: readonly string[], rooms?: readonly string[]): number {
    const broadcast = to === undefined && rooms === undefined;
    const recipients = broadcast ? this.list() : this.resolve(to, rooms);
    const entry = this.record(event, data, to, rooms);
    for (const c of recipients) c.deliver(entry);
    return recipients.length;
  }

  /** Closes every client, or those named in `to` (client ids) or in `rooms`; their reconnects get 204. */
  close(to?: readonly string[], rooms?: readonly string[]): void {
    const victims = to === undefined && rooms === undefined ? this.list() : this.resolve(to, rooms);
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

  eventId(n: number, suffix: string): string {
    return this.ids.format(n, suffix);
  }

  after(n: number): HistoryEntry | "gap" | undefined {
    return this.history.after(n);
  }

  sendTo(client: SseClient, event: string | undefined, data: unknown): boolean {
    const entry = this.record(event, data, [client.id], undefined);
    return client.deliver(entry);
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

  replayGap(client: SseClient, lastEventId: string): void {
    this.writeGap(client, lastEventId, "history-exceeded");
  }

  gone(client: SseClient, reason: SseCloseReason): void {
    const set = this.clients.get(client.id);
    set?.delete(client);
    if (set?.size === 0) this.clients.delete(client.id);
    if (reason === "client" || reason === "slow") this.depart(client);
    for (const room of client.rooms) this.left(client, room);
    if (reason === "closed") this.remember(client.id, Date.now());
    if (reason === "slow") {
      this.report(
        new SseError(
          SseErrorCode.SLOW_CLIENT,
          `SSE client "${client.id}" was disconnected: more than ${this.maxBufferBytes} bytes waited for it`,
        ),
      );
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  /**
   * Serializes and numbers an event, formats its body once for every recipient, and keeps it
   * with its addressing for replay. Throws before numbering anything if it cannot be sent.
   */
  private record(
    event: string | undefined,
    data: unknown,
    to: readonly string[] | undefined,
    rooms: readonly string[] | undefined,
  ): HistoryEntry {
    let text: string;
    try {
      text = this.serialize(data);
    } catch (cause) {
      if (cause instanceof SseError) throw cause;
      throw new SseError(SseErrorCode.SERIALIZE, `SSE data cannot be serialized: ${(cause as Error)?.message}`, { cause });
    }
    if (typeof text !== "string") throw new SseError(SseErrorCode.SERIALIZE, "the SSE serializer did not return a string");
    // A cheap lower bound first, so a huge text is refused without being encoded.
    if (text.length > this.maxEventBytes) throw this.tooLarge(text.length);
    const body = Buffer.from(eventBody(event, text), "utf8");
    if (body.length > this.maxEventBytes) throw this.tooLarge(body.length);
    const entry: HistoryEntry = { n: ++this.sequence, body, to, rooms, at: Date.now() };
    this.history.add(entry);
    return entry;
  }

  private tooLarge(bytes: number): SseError {
    return new SseError(
      SseErrorCode.TOO_LARGE,
      `SSE event of at least ${bytes} bytes is over maxEventBytes (${this.maxEventBytes}); not sent`,
    );
  }

  private writeGap(client: SseClient, lastEventId: string, reason: SseGapReason): void {
    // Echoed back only up to the length an id can have.
    client.writeEventBody(this.sequence, GAP_EVENT, JSON.stringify({ lastEventId: lastEventId.slice(0, MAX_EVENT_ID_LENGTH), reason }));
  }

  private resolve(to: readonly string[] | undefined, rooms: readonly string[] | undefined): SseClient[] {
    const out = new Set<SseClient>();
    for (const id of to ?? []) for (const c of this.clients.get(id) ?? []) out.add(c);
    for (const room of rooms ?? []) for (const c of this.rooms.get(room) ?? []) out.add(c);
    return [...out];
  }

  private forEachClient(fn: (c: SseClient) => void): void {
    for (const set of this.clients.values()) for (const c of set) fn(c);
  }

  /** Keeps the rooms of a client that went away (with those a replay still owed it), for the history window. */
  private depart(client: SseClient): void {
    const rooms = new Map(client.departedRooms() ?? []);
    for (const [room, since] of client.joinedAt) if (!rooms.has(room)) rooms.set(room, since);
    const now = Date.now();
    this.departed.delete(client.id);
    for (const [id, d] of this.departed) {
      if (d.until > now && this.departed.size < MAX_DEPARTED) break;
      this.departed.delete(id);
    }
    if (rooms.size > 0) this.departed.set(client.id, { rooms, until: now + this.historyAge });
  }

  private departedRooms(id: string): ReadonlyMap<string, number> {
    const d = this.departed.get(id);
    return d && d.until > Date.now() ? d.rooms : new Map();
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

function lastEventIdOf(req: Request): string | undefined {
  const v = req.headers["last-event-id"];
  const id = Array.isArray(v) ? v[0] : v;
  return id === "" ? undefined : id;
}
