import { ClosedError, InvalidOptionError, PayloadError } from "@sfn/channel-core";

/**
 * What is published while the broker is away. nats.js discards its outbound buffer on every
 * reconnect (everything published while disconnected is lost without a trace), so the router
 * keeps those messages itself, in one bounded window, and writes them, in order, once the
 * connection is back: the mesh's "a short failure loses nothing" for this service's own
 * connection, with the same bounds and the same `drop` reasons.
 *
 * Pure: the connection state comes in through `disconnected()` / `reconnected()` (from
 * `nc.status()`), messages leave through the host's `write`.
 */

/** A message as the window handles it; the router may carry more fields through to `write`. */
export interface OutboundMessage {
  /** NATS subject. */
  subject: string;
  /** Encoded body. */
  payload: Uint8Array;
  /** Bytes of NATS headers sent with it (they count against `max_payload`). @default 0 */
  headerBytes?: number;
  /** Who a drop of this message is reported for: the target service id, or a label such as `"*"`. */
  label: string;
}

/** Why the window could not keep a message (a subset of core's `DropReason`). */
export type WindowDropReason = "window-full" | "volatile" | "disconnected";

/** What a {@link BrokerWindow} needs from the router. */
export interface BrokerWindowHost<M extends OutboundMessage> {
  /** Hands a message to the NATS connection (only called while connected). */
  write(message: M): void;
  /** Reports messages that were not kept. */
  drop(label: string, count: number, reason: WindowDropReason): void;
  /** The window went back below its low-water mark after `publish` returned false. */
  drain(): void;
}

/** Options of {@link BrokerWindow}. */
export interface BrokerWindowOptions {
  /** Most messages kept while the broker is away. @default 65536 */
  maxMessages?: number;
  /** Most payload bytes kept while the broker is away. @default 16 MiB */
  maxBytes?: number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(`${name} must be a positive number`);
  return value;
}

/** The bounded window of messages published while the NATS connection is down. */
export class BrokerWindow<M extends OutboundMessage = OutboundMessage> {
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private queue: M[] = [];
  private head = 0;
  private bytes = 0;
  private connected_ = true;
  private congested = false;
  private closed = false;
  private maxPayload = Infinity;

  constructor(
    private readonly host: BrokerWindowHost<M>,
    options: BrokerWindowOptions = {},
  ) {
    this.maxMessages = positive("window.maxMessages", options.maxMessages, 65536);
    this.maxBytes = positive("window.maxBytes", options.maxBytes, 16 * 1024 * 1024);
  }

  /** True while messages go straight to the connection. */
  get connected(): boolean {
    return this.connected_;
  }

  /** Messages waiting for the broker. */
  get pendingMessages(): number {
    return this.queue.length - this.head;
  }

  /** Payload bytes waiting for the broker. */
  get pendingBytes(): number {
    return this.bytes;
  }

  /**
   * The server's `max_payload` (from `nc.info` after each connect). Kept across disconnects:
   * nats.js forgets it while reconnecting and would then accept anything.
   */
  setMaxPayload(bytes: number | undefined): void {
    if (typeof bytes === "number" && bytes > 0) this.maxPayload = bytes;
  }

  /**
   * Sends or keeps one message. Throws `PayloadError` (before any side effect) for a message
   * over `max_payload`. Returns false when the caller should wait for `drain`: the window is
   * past half full, or the message was dropped (`window-full`, or `volatile` while away).
   */
  publish(message: M, options: { volatile?: boolean } = {}): boolean {
    if (this.closed) throw new ClosedError();
    const size = message.payload.byteLength + (message.headerBytes ?? 0);
    if (size > this.maxPayload) {
      throw new PayloadError(`message on "${message.subject}" is ${size} bytes, over the NATS server's max_payload (${this.maxPayload})`);
    }
    if (this.connected_) {
      this.host.write(message);
      return true;
    }
    if (options.volatile) {
      this.host.drop(message.label, 1, "volatile");
      return false;
    }
    if (this.pendingMessages >= this.maxMessages || this.bytes + message.payload.byteLength > this.maxBytes) {
      this.host.drop(message.label, 1, "window-full");
      this.congested = true;
      return false;
    }
    this.queue.push(message);
    this.bytes += message.payload.byteLength;
    if (this.pendingMessages * 2 >= this.maxMessages || this.bytes * 2 >= this.maxBytes) this.congested = true;
    return !this.congested;
  }

  /** The connection is down: keep what is published from now on. */
  disconnected(): void {
    if (!this.closed) this.connected_ = false;
  }

  /** The connection is back: write what was kept, in order, then go straight through again. */
  reconnected(): void {
    if (this.closed) return;
    while (this.head < this.queue.length) {
      const message = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as M;
      this.bytes -= message.payload.byteLength;
      this.host.write(message);
    }
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    this.connected_ = true;
    if (this.congested) {
      this.congested = false;
      this.host.drain();
    }
  }

  /** Gives up on what is kept (reported as `disconnected`, per label) and refuses more. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const counts = new Map<string, number>();
    for (let i = this.head; i < this.queue.length; i++) {
      const label = this.queue[i]!.label;
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    for (const [label, count] of counts) this.host.drop(label, count, "disconnected");
  }
}
