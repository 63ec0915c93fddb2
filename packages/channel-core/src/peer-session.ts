import { Deque } from "./deque.js";
import { InterestSet } from "./interest.js";
import { FrameType } from "./protocol/frames.js";
import { headerLength, type SequencedType } from "./protocol/codec.js";
import type { Connection } from "./connection.js";
import type { DropReason, PeerInfo } from "./types.js";

/** One frame in the resume window. */
export interface WindowEntry {
  seq: number;
  type: SequencedType;
  /** Everything after the header; shared between links for the same publish. */
  body: Buffer;
  /** Header plus body, in bytes. */
  size: number;
}

/** Caps of one session's resume window (MSG frames only; SUB/UNSUB never count against them). */
export interface WindowCaps {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

/**
 * What {@link PeerSession.offer} did with a message: queued (and, past the high-water mark,
 * the session is now congested), or refused because the window is full.
 */
export type OfferResult = "queued" | "congested" | "window-full";

/**
 * What a link remembers across reconnects: the numbered frames not yet acknowledged
 * (the resume window), the highest frame received, and the peer's subscriptions.
 * A session lives until the peer says goodbye, restarts, or stays away past the resume timeout.
 *
 * The window's bookkeeping (sequence numbers, counts, congestion, what was written to the
 * current connection) changes only through the methods here, so it cannot drift apart.
 */
export class PeerSession {
  /** Patterns the peer subscribed to. */
  readonly remote = new InterestSet();
  readonly stats = { sent: 0, received: 0, resent: 0, resumes: 0, dropped: {} as Partial<Record<DropReason, number>> };

  private _instance = "";
  private _key: Uint8Array | null = null;
  private _received = 0;
  private _connection: Connection | undefined;
  private _direction: "inbound" | "outbound" = "inbound";
  private _url: string | undefined;
  private _peerMaxFrameSize = 0;
  private _sentIndex = 0;
  private _unacked = 0;
  private _congested = false;
  private synced = false;
  private initialSeq = 0;
  private acked = 0;
  private pendingUp: { resumed: boolean } | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private nextSeq = 1;
  private readonly window = new Deque<WindowEntry>();
  private _messages = 0;
  private _bytes = 0;

  constructor(
    readonly id: string,
    private readonly caps: WindowCaps,
  ) {}

  /** Peer's channel instance; a different one means the peer restarted. */
  get instance(): string {
    return this._instance;
  }

  /**
   * Key both sides derived in the handshake that started this session (never sent); a later
   * connection resumes the session, or replaces its live connection, only by proving it.
   */
  get key(): Uint8Array | null {
    return this._key;
  }

  /** Highest sequence number received from the peer. */
  get received(): number {
    return this._received;
  }

  /** The open connection, if the link is up. */
  get connection(): Connection | undefined {
    return this._connection;
  }

  /** Direction of the latest connection. */
  get direction(): "inbound" | "outbound" {
    return this._direction;
  }

  /** URL of the latest connection, if this side dialled it. */
  get url(): string | undefined {
    return this._url;
  }

  /** Largest message the peer accepts. */
  get peerMaxFrameSize(): number {
    return this._peerMaxFrameSize;
  }

  /** Window entries already written to the current connection. */
  get sentIndex(): number {
    return this._sentIndex;
  }

  /** Frames received since the last acknowledgement was queued. */
  get unacked(): number {
    return this._unacked;
  }

  /** True while the window is above its high-water mark (half a cap), until it falls below a quarter. */
  get congested(): boolean {
    return this._congested;
  }

  /** MSG frames in the window. */
  get messages(): number {
    return this._messages;
  }

  /** Bytes of MSG frames in the window. */
  get bytes(): number {
    return this._bytes;
  }

  /** True when both sides know each other's subscriptions: the link may count as up. */
  get ready(): boolean {
    return this.synced && this.acked >= this.initialSeq;
  }

  /** Last sequence number handed out. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Frames in the window. */
  get windowLength(): number {
    return this.window.length;
  }

  /** True if every window entry has been written to the current connection. */
  get allSent(): boolean {
    return this._sentIndex >= this.window.length;
  }

  /** The next window entry not yet written to the current connection. */
  nextUnsent(): WindowEntry | undefined {
    return this.window.at(this._sentIndex);
  }

  /** The connection wrote the entry {@link nextUnsent} returned. */
  markSent(): void {
    this._sentIndex++;
  }

  /** Numbers a control frame (SUB/UNSUB) and keeps it until the peer acknowledges it. */
  enqueue(type: SequencedType, body: Buffer): WindowEntry {
    const seq = this.nextSeq++;
    const entry: WindowEntry = { seq, type, body, size: headerLength(seq) + body.length };
    this.window.push(entry);
    if (type === FrameType.MSG) {
      this._messages++;
      this._bytes += entry.size;
    }
    return entry;
  }

  /**
   * Queues a message within the window's caps (`extra`: the most header bytes a frame adds,
   * counted before the sequence number is known); refuses it when the window is full.
   */
  offer(body: Buffer, extra: number): OfferResult {
    if (this._messages >= this.caps.maxMessages || this._bytes + body.length + extra > this.caps.maxBytes) return "window-full";
    this.enqueue(FrameType.MSG, body);
    this.stats.sent++;
    if (!this._congested && (this._messages * 2 >= this.caps.maxMessages || this._bytes * 2 >= this.caps.maxBytes)) {
      this._congested = true;
    }
    return this._congested ? "congested" : "queued";
  }

  /** Ends congestion once the window is below a quarter of both caps; true if it just ended. */
  relieve(): boolean {
    if (!this._congested || this._messages * 4 >= this.caps.maxMessages || this._bytes * 4 >= this.caps.maxBytes) return false;
    this._congested = false;
    return true;
  }

  /** Forgets every frame up to `seq`; returns how many were removed. */
  acknowledge(seq: number): number {
    let removed = 0;
    for (let e = this.window.peek(); e !== undefined && e.seq <= seq; e = this.window.peek()) {
      this.window.shift();
      if (e.type === FrameType.MSG) {
        this._messages--;
        this._bytes -= e.size;
      }
      removed++;
    }
    this._sentIndex = Math.max(0, this._sentIndex - removed);
    if (seq > this.acked) this.acked = seq;
    return removed;
  }

  /** A proven reconnect: forget what the peer says it has, resend the rest from the start. */
  resume(peerReceived: number): void {
    this.acknowledge(peerReceived);
    this._sentIndex = 0;
    this.stats.resent += this._messages;
    this.stats.resumes++;
  }

  /** Starts a new session; returns how many unacknowledged messages were lost with the old one. */
  reset(key: Uint8Array | null, instance: string): number {
    const lost = this._messages;
    this.window.drain();
    this._messages = 0;
    this._bytes = 0;
    this._sentIndex = 0;
    this._congested = false;
    this.nextSeq = 1;
    this._received = 0;
    this._unacked = 0;
    this.remote.clear();
    this.synced = false;
    this.initialSeq = 0;
    this.acked = 0;
    this.pendingUp = undefined;
    this._key = key;
    this._instance = instance;
    return lost;
  }

  /** The frames queued so far are this side's initial subscription state; the link waits for their acknowledgement. */
  markInitialState(): void {
    this.initialSeq = this.lastSeq;
  }

  /** The peer's initial subscription state arrived; true the first time. */
  markSynced(): boolean {
    if (this.synced) return false;
    this.synced = true;
    return true;
  }

  /**
   * Takes a sequenced frame's number: "duplicate" if it was already received (resent after a
   * resume), otherwise how many frames were skipped before it (the sender dropped them).
   */
  receive(seq: number): "duplicate" | number {
    if (seq <= this._received) return "duplicate";
    const gap = seq - this._received - 1;
    this._received = seq;
    return gap;
  }

  /** Counts one more frame received and not yet acknowledged; returns how many are pending. */
  noteUnacked(): number {
    return ++this._unacked;
  }

  /** Everything received is being acknowledged now: the sequence number to acknowledge, or undefined if nothing is pending. */
  takeAck(): number | undefined {
    if (this._unacked === 0) return undefined;
    this._unacked = 0;
    return this._received;
  }

  /** Binds the session to a newly opened connection (stops the resume-timeout clock). */
  bind(conn: Connection, peerMaxFrameSize: number): void {
    this.clearExpiry();
    this._connection = conn;
    this._direction = conn.direction;
    this._url = conn.url;
    this._peerMaxFrameSize = peerMaxFrameSize;
  }

  /** The connection is gone (or replaced). */
  unbind(): void {
    this._connection = undefined;
  }

  /** Starts the resume-timeout clock of a down link. */
  expireAfter(ms: number, expired: () => void): void {
    this.clearExpiry();
    this.expiry = setTimeout(expired, ms);
    this.expiry.unref();
  }

  /** Stops the resume-timeout clock. */
  clearExpiry(): void {
    clearTimeout(this.expiry);
    this.expiry = undefined;
  }

  /** The link waits for the subscription exchange before it counts as up. */
  awaitUp(resumed: boolean): void {
    this.pendingUp = { resumed };
  }

  /** Once the subscription exchange is over: whether the waiting link resumed (taken once); undefined otherwise. */
  takeUp(): { resumed: boolean } | undefined {
    const up = this.pendingUp;
    if (!up || !this.ready) return undefined;
    this.pendingUp = undefined;
    return up;
  }

  /** Counts a received message. */
  countReceived(): void {
    this.stats.received++;
  }

  /** Counts messages written without the window (volatile). */
  countSent(count: number): void {
    this.stats.sent += count;
  }

  /** Counts dropped messages under a reason. */
  countDrop(reason: DropReason, count: number): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + count;
  }

  /** Public snapshot. */
  info(): PeerInfo {
    return {
      id: this.id,
      state: this._connection ? "up" : "down",
      direction: this._direction,
      url: this._url,
      subscriptions: this.remote.size,
      pendingMessages: this._messages,
      pendingBytes: this._bytes,
      sent: this.stats.sent,
      received: this.stats.received,
      resent: this.stats.resent,
      dropped: { ...this.stats.dropped },
      resumes: this.stats.resumes,
    };
  }
}
