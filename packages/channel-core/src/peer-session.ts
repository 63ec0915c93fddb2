import { InterestSet } from "./interest.js";
import { FrameType } from "./protocol/frames.js";
import { headerLength, writeHeader, type SequencedType } from "./protocol/codec.js";
import type { Connection } from "./connection.js";
import type { DropReason, PeerInfo } from "./types.js";

// Smallest ring of the resume window; below this it never shrinks.
const MIN_WINDOW_CAPACITY = 16;

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
  // The resume window: a ring (power-of-two capacity) of frame bodies and types, oldest at
  // `head`. Sequence numbers are consecutive, so entry i is frame `nextSeq - length + i`: no
  // object per frame, only the body, which is shared between the links of one publish.
  private bodies: (Buffer | undefined)[] = new Array(MIN_WINDOW_CAPACITY);
  private types = new Uint8Array(MIN_WINDOW_CAPACITY);
  private mask = MIN_WINDOW_CAPACITY - 1;
  private head = 0;
  private length = 0;
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
    return this.length;
  }

  /** True if every window entry has been written to the current connection. */
  get allSent(): boolean {
    return this._sentIndex >= this.length;
  }

  /** Bytes (header and body) of the frame `i` entries after the next unsent one; -1 past the end. */
  unsentSize(i: number): number {
    const at = this._sentIndex + i;
    if (at >= this.length) return -1;
    return headerLength(this.nextSeq - this.length + at) + (this.bodies[(this.head + at) & this.mask] as Buffer).length;
  }

  /**
   * Writes the next `n` unsent frames (header, then body) into `out` at `offset`, counts them
   * as written to the current connection, and returns the offset after them.
   */
  writeUnsent(out: Buffer, offset: number, n: number): number {
    const first = this.nextSeq - this.length + this._sentIndex;
    for (let i = 0; i < n; i++) {
      const slot = (this.head + this._sentIndex + i) & this.mask;
      const body = this.bodies[slot] as Buffer;
      offset = writeHeader(out, offset, this.types[slot] as SequencedType, first + i);
      // TypedArray#set, not Buffer#copy: for bodies this small copy's argument handling costs more than the bytes.
      out.set(body, offset);
      offset += body.length;
    }
    this._sentIndex += n;
    return offset;
  }

  /** Numbers a control frame (SUB/UNSUB) and keeps it until the peer acknowledges it. */
  enqueue(type: SequencedType, body: Buffer): void {
    const seq = this.nextSeq++;
    if (this.length > this.mask) this.resize((this.mask + 1) * 2);
    const slot = (this.head + this.length) & this.mask;
    this.bodies[slot] = body;
    this.types[slot] = type;
    this.length++;
    if (type === FrameType.MSG) {
      this._messages++;
      this._bytes += headerLength(seq) + body.length;
    }
  }

  private resize(capacity: number): void {
    const bodies: (Buffer | undefined)[] = new Array(capacity);
    const types = new Uint8Array(capacity);
    for (let i = 0; i < this.length; i++) {
      const slot = (this.head + i) & this.mask;
      bodies[i] = this.bodies[slot];
      types[i] = this.types[slot] as number;
    }
    this.bodies = bodies;
    this.types = types;
    this.mask = capacity - 1;
    this.head = 0;
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
    const first = this.nextSeq - this.length;
    const removed = seq < first ? 0 : Math.min(this.length, seq - first + 1);
    for (let i = 0; i < removed; i++) {
      const slot = this.head;
      const body = this.bodies[slot] as Buffer;
      this.bodies[slot] = undefined;
      if (this.types[slot] === FrameType.MSG) {
        this._messages--;
        this._bytes -= headerLength(first + i) + body.length;
      }
      this.head = (slot + 1) & this.mask;
    }
    this.length -= removed;
    // Memory follows the live length, with slack: halving at most once per acknowledgement, and
    // only below an eighth, so a busy window is not copied back and forth; an empty one goes
    // back to the smallest ring at once (an idle link costs what it did before any traffic).
    const capacity = this.mask + 1;
    if (capacity > MIN_WINDOW_CAPACITY && this.length * 8 <= capacity) this.resize(this.length === 0 ? MIN_WINDOW_CAPACITY : capacity / 2);
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
    this.bodies = new Array(MIN_WINDOW_CAPACITY);
    this.types = new Uint8Array(MIN_WINDOW_CAPACITY);
    this.mask = MIN_WINDOW_CAPACITY - 1;
    this.head = 0;
    this.length = 0;
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
