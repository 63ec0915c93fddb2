import { comment, eventBody } from "./sse-frame.js";

/** The response side of one SSE connection: Node's http/1 `ServerResponse` and http/2 compat `Http2ServerResponse` both fit. */
export interface SseResponse {
  write(chunk: string): boolean;
  end(): void;
  destroy(error?: Error): void;
  once(event: "drain" | "close", listener: () => void): unknown;
  readonly writableLength: number;
  readonly writableEnded: boolean;
}

/** Why a stream ended. */
export type SseCloseReason =
  /** The browser went away. */
  | "client"
  /** `close()` was called here or by a publisher; reconnects are refused for a while. */
  | "closed"
  /** The client stayed slow past its buffer bound. */
  | "slow"
  /** The front end stopped. */
  | "shutdown";

/** What a client needs from the front end that holds it. */
export interface SseClientHost {
  readonly maxBufferBytes: number;
  eventId(n: number, client: string): string;
  /** Sends one event to this client only (numbered and kept in history like any other). */
  sendTo(client: SseClient, event: string | undefined, data: unknown): boolean;
  joined(client: SseClient, room: string): void;
  left(client: SseClient, room: string): void;
  gone(client: SseClient, reason: SseCloseReason): void;
}

/**
 * One browser's event stream. Writes honour the response's backpressure: while the socket is
 * full, events wait in a bounded buffer; a client that overflows it is disconnected (`slow`).
 */
export class SseClient {
  /** Rooms this client is in (its own id is implicit). */
  readonly rooms = new Set<string>();
  /** Resolves once the stream has ended, with the reason. */
  readonly closed: Promise<SseCloseReason>;
  private resolveClosed!: (r: SseCloseReason) => void;
  private queue: string[] = [];
  private queued = 0;
  private waiting = false;
  private ended = false;

  /** @internal */
  constructor(
    private readonly host: SseClientHost,
    private readonly res: SseResponse,
    /** The client id: given by the application, restored from `Last-Event-ID`, or a nanoid. */
    readonly id: string,
  ) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    res.once("close", () => this.finish("client"));
  }

  /** True until the stream ends. */
  get open(): boolean {
    return !this.ended;
  }

  /** Sends a `message` event. Returns false if it had to wait in the buffer (or the stream has ended). */
  send(data: unknown): boolean {
    return this.host.sendTo(this, undefined, data);
  }

  /** Sends a named event; returns false as {@link SseClient.send} does. */
  emit(event: string, data: unknown): boolean {
    return this.host.sendTo(this, event, data);
  }

  /** Adds this client to a room. */
  join(room: string): void {
    if (this.ended || this.rooms.has(room)) return;
    this.rooms.add(room);
    this.host.joined(this, room);
  }

  /** Removes this client from a room. */
  leave(room: string): void {
    if (!this.rooms.delete(room)) return;
    this.host.left(this, room);
  }

  /** Ends the stream; the browser's automatic reconnect is refused (204) for a while. */
  close(): void {
    this.end("closed");
  }

  /** @internal Writes event number `n` (its body prepared once for every recipient). */
  writeEvent(n: number, body: string): boolean {
    // The id's parts were validated once (tag and client id at connect; n is a number).
    return this.write(`id: ${this.host.eventId(n, this.id)}\n${body}`);
  }

  /** @internal Writes raw SSE text. */
  write(chunk: string): boolean {
    if (this.ended) return false;
    if (this.waiting) {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued + this.res.writableLength > this.host.maxBufferBytes) this.end("slow");
      return false;
    }
    if (this.res.write(chunk)) return true;
    this.waiting = true;
    this.res.once("drain", () => this.drain());
    return false;
  }

  /** @internal Keep-alive comment; skipped while the socket is full. */
  ping(): void {
    if (!this.waiting) this.write(comment());
  }

  /** @internal Ends the stream for a reason. */
  end(reason: SseCloseReason): void {
    if (this.ended) return;
    if (reason === "slow") this.res.destroy();
    else if (!this.res.writableEnded) this.res.end();
    this.finish(reason);
  }

  /** @internal An event written right after the headers (client id, replay, gap). */
  writeEventBody(n: number, event: string, data: string): void {
    this.writeEvent(n, eventBody(event, data));
  }

  private drain(): void {
    this.waiting = false;
    const queue = this.queue;
    this.queue = [];
    this.queued = 0;
    if (queue.length > 0) this.write(queue.join(""));
  }

  private finish(reason: SseCloseReason): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.queued = 0;
    this.host.gone(this, reason);
    this.resolveClosed(reason);
  }
}
