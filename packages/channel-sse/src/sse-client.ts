import { Buffer } from "node:buffer";
import type { HistoryEntry } from "./history.js";
import { checkName, comment, eventBody } from "./sse-frame.js";

/** The response side of one SSE connection: Node's http/1 `ServerResponse` and http/2 compat `Http2ServerResponse` both fit. */
export interface SseResponse {
  write(chunk: Uint8Array): boolean;
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
  /** Number of the newest event. */
  readonly seq: number;
  eventId(n: number, suffix: string): string;
  /** The first kept event after `n`, `"gap"` if the history cannot fill from `n`, undefined if none yet. */
  after(n: number): HistoryEntry | "gap" | undefined;
  /** Sends one event to this client only (numbered and kept in history like any other). */
  sendTo(client: SseClient, event: string | undefined, data: unknown): boolean;
  joined(client: SseClient, room: string): void;
  left(client: SseClient, room: string): void;
  /** A replay could not be completed from history. */
  replayGap(client: SseClient, lastEventId: string): void;
  gone(client: SseClient, reason: SseCloseReason): void;
}

/** A replay in progress: a cursor over the history, moved as the socket drains. */
interface Replay {
  lastEventId: string;
  /** Number of the last event looked at. */
  cursor: number;
  /** Number of the newest event when the stream opened: events up to it use `departed`. */
  openedAt: number;
  /** The rooms the client was in when its previous stream ended, each with the number it joined at. */
  departed: ReadonlyMap<string, number>;
}

/**
 * One browser's event stream. Writes honour the response's backpressure: while the socket is
 * full, events wait in a bounded buffer (counted in bytes); a client still over it when the
 * event-loop turn ends is disconnected (`slow`). A replay after a reconnect is written only as
 * fast as the socket drains, so a long gap never counts against that buffer.
 */
export class SseClient {
  /** Rooms this client is in (its id is not one of them: ids and rooms are separate namespaces). */
  readonly rooms = new Set<string>();
  /** Resolves once the stream has ended, with the reason. */
  readonly closed: Promise<SseCloseReason>;
  /** @internal Number of the newest event when each room was joined. */
  readonly joinedAt = new Map<string, number>();
  private resolveClosed!: (r: SseCloseReason) => void;
  private queue: Buffer[] = [];
  private queued = 0;
  private waiting = false;
  /** A check of the buffer bound is due at the end of this event-loop turn. */
  private checking = false;
  private ended = false;
  private replay: Replay | undefined;

  /** @internal */
  constructor(
    private readonly host: SseClientHost,
    private readonly res: SseResponse,
    /** The client id: given by the application, restored from a signed `Last-Event-ID`, or random. */
    readonly id: string,
    /** @internal What follows the number in this client's event ids (its signed id). */
    readonly idSuffix: string,
  ) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    res.once("close", () => this.finish("client"));
  }

  /** True until the stream ends. */
  get open(): boolean {
    return !this.ended;
  }

  /** True while missed events are still being replayed. */
  get replaying(): boolean {
    return this.replay !== undefined;
  }

  /** Sends a `message` event. Returns false if it could not go out at once (buffered, replaying, or the stream has ended). */
  send(data: unknown): boolean {
    return this.host.sendTo(this, undefined, data);
  }

  /** Sends a named event; returns false as {@link SseClient.send} does. */
  emit(event: string, data: unknown): boolean {
    checkName("event name", event);
    return this.host.sendTo(this, event, data);
  }

  /**
   * Adds this client to a room; it gets the room's events from now on. Throws
   * `InvalidOptionError` for a name that is not a string, `ERR_SSE_INVALID_FIELD` for one with
   * CR, LF or NUL (no `in()` could ever address it).
   */
  join(room: string): void {
    checkName("room name", room);
    if (this.ended || this.rooms.has(room)) return;
    this.rooms.add(room);
    this.joinedAt.set(room, this.host.seq);
    this.host.joined(this, room);
  }

  /** Removes this client from a room. */
  leave(room: string): void {
    checkName("room name", room);
    if (!this.rooms.delete(room)) return;
    this.joinedAt.delete(room);
    this.host.left(this, room);
  }

  /** Ends the stream; the browser's automatic reconnect is refused (204) for a while. */
  close(): void {
    this.end("closed");
  }

  /** @internal Writes a live event. While replaying, nothing is written: the replay reaches it in the history. */
  deliver(e: HistoryEntry): boolean {
    if (this.replay) return false;
    return this.writeEvent(e.n, e.body);
  }

  /** @internal Replays the events after `n` meant for this client, as the socket drains, then goes live. */
  startReplay(lastEventId: string, n: number, departed: ReadonlyMap<string, number>): void {
    this.replay = { lastEventId, cursor: n, openedAt: this.host.seq, departed };
    this.pump();
  }

  /** @internal The rooms whose events a replay still owes this client, for the record kept when it goes away. */
  departedRooms(): ReadonlyMap<string, number> | undefined {
    return this.replay?.departed;
  }

  /** @internal Writes event number `n`. */
  writeEvent(n: number, body: Buffer): boolean {
    // The id is ASCII: epoch, number, base64url client id and tag.
    return this.write(Buffer.concat([Buffer.from(`id: ${this.host.eventId(n, this.idSuffix)}\n`, "latin1"), body]));
  }

  /** @internal Writes raw SSE text or bytes. */
  write(chunk: string | Buffer): boolean {
    if (this.ended) return false;
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    if (this.waiting) {
      this.queue.push(bytes);
      this.queued += bytes.length;
      if (this.backlog > this.host.maxBufferBytes) this.checkSlow();
      return false;
    }
    if (this.res.write(bytes)) return true;
    this.waiting = true;
    this.res.once("drain", () => this.drain());
    return false;
  }

  /** Bytes waiting for this client: ours, and those handed to the response but not yet to the OS. */
  private get backlog(): number {
    // Both in bytes: `writableLength` counts the bytes of the Buffers handed to the response.
    return this.queued + this.res.writableLength;
  }

  /**
   * Judges the bound once the socket has had its chance: Node's http response holds everything
   * written during one event-loop turn (it corks the socket until the turn ends), so a burst
   * written in one turn waits on this process, not on the client. Whatever the OS has not taken
   * by the next turn waits on the client.
   */
  private checkSlow(): void {
    if (this.checking) return;
    this.checking = true;
    setImmediate(() => {
      this.checking = false;
      if (!this.ended && this.backlog > this.host.maxBufferBytes) this.end("slow");
    });
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

  /** @internal An event written outside the history (client id, gap). */
  writeEventBody(n: number, event: string, data: string): void {
    this.writeEvent(n, Buffer.from(eventBody(event, data), "utf8"));
  }

  /** Whether a kept event was meant for this client, by its addressing. */
  private wants(e: HistoryEntry, r: Replay): boolean {
    if (e.to === undefined && e.rooms === undefined) return true;
    if (e.to?.includes(this.id)) return true;
    for (const room of e.rooms ?? []) {
      // Before this stream opened: the rooms it was in when it dropped; since: the rooms it is in.
      const since = e.n <= r.openedAt ? r.departed.get(room) : this.joinedAt.get(room);
      if (since !== undefined && e.n > since) return true;
    }
    return false;
  }

  private pump(): void {
    for (let r = this.replay; r && !this.ended && !this.waiting; r = this.replay) {
      const e = this.host.after(r.cursor);
      if (e === undefined) {
        this.replay = undefined; // caught up: live from here
      } else if (e === "gap") {
        this.replay = undefined;
        this.host.replayGap(this, r.lastEventId);
      } else {
        r.cursor = e.n;
        if (this.wants(e, r)) this.writeEvent(e.n, e.body);
      }
    }
  }

  private drain(): void {
    this.waiting = false;
    const queue = this.queue;
    this.queue = [];
    this.queued = 0;
    if (queue.length > 0) this.write(queue.length === 1 ? (queue[0] as Buffer) : Buffer.concat(queue));
    if (!this.waiting) this.pump();
  }

  private finish(reason: SseCloseReason): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.queued = 0;
    this.host.gone(this, reason);
    this.replay = undefined;
    this.resolveClosed(reason);
  }
}
