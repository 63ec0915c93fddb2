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

/**
 * What a link remembers across reconnects: the numbered frames not yet acknowledged
 * (the resume window), the highest frame received, and the peer's subscriptions.
 * A session lives until the peer says goodbye, restarts, or stays away past the resume timeout.
 */
export class PeerSession {
  /** Peer's channel instance; a different one means the peer restarted. */
  instance = "";
  /**
   * Key both sides derived in the handshake that started this session (never sent); a later
   * connection resumes the session, or replaces its live connection, only by proving it.
   */
  key: Uint8Array | null = null;
  /** Highest sequence number received from the peer. */
  received = 0;
  /** Patterns the peer subscribed to. */
  readonly remote = new InterestSet();
  /** The open connection, if the link is up. */
  connection: Connection | undefined;
  /** Direction and URL of the latest connection. */
  direction: "inbound" | "outbound" = "inbound";
  url: string | undefined;
  /** Largest message the peer accepts. */
  peerMaxFrameSize = 0;
  /** Window entries already written to the current connection. */
  sentIndex = 0;
  /** Frames received since the last acknowledgement was queued. */
  unacked = 0;
  /** True while the window is above its high-water mark. */
  congested = false;
  /** True once the peer's subscription state for this session has arrived. */
  synced = false;
  /** Sequence number of the last frame of this side's initial subscription state. */
  initialSeq = 0;
  /** Highest sequence number the peer acknowledged. */
  acked = 0;
  /** True when both sides know each other's subscriptions: the link may count as up. */
  get ready(): boolean {
    return this.synced && this.acked >= this.initialSeq;
  }

  /** Set while a new link waits for the subscription exchange before it counts as up. */
  pendingUp: { resumed: boolean } | undefined;
  /** Pending resume-timeout expiry while the link is down. */
  expiry: NodeJS.Timeout | undefined;

  readonly stats = { sent: 0, received: 0, resent: 0, resumes: 0, dropped: {} as Partial<Record<DropReason, number>> };

  private nextSeq = 1;
  private readonly window = new Deque<WindowEntry>();
  /** MSG frames in the window (SUB/UNSUB do not count against the caps). */
  messages = 0;
  /** Bytes of MSG frames in the window. */
  bytes = 0;

  constructor(readonly id: string) {}

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
    return this.sentIndex >= this.window.length;
  }

  /** The next window entry not yet written to the current connection. */
  nextUnsent(): WindowEntry | undefined {
    return this.window.at(this.sentIndex);
  }

  /** Numbers a frame and keeps it until the peer acknowledges it. */
  enqueue(type: SequencedType, body: Buffer): WindowEntry {
    const seq = this.nextSeq++;
    const entry: WindowEntry = { seq, type, body, size: headerLength(seq) + body.length };
    this.window.push(entry);
    if (type === FrameType.MSG) {
      this.messages++;
      this.bytes += entry.size;
    }
    return entry;
  }

  /** Forgets every frame up to `seq`; returns how many were removed. */
  acknowledge(seq: number): number {
    let removed = 0;
    for (let e = this.window.peek(); e !== undefined && e.seq <= seq; e = this.window.peek()) {
      this.window.shift();
      if (e.type === FrameType.MSG) {
        this.messages--;
        this.bytes -= e.size;
      }
      removed++;
    }
    this.sentIndex = Math.max(0, this.sentIndex - removed);
    if (seq > this.acked) this.acked = seq;
    return removed;
  }

  /** Starts a new session; returns how many unacknowledged messages were lost with the old one. */
  reset(key: Uint8Array | null, instance: string): number {
    const lost = this.messages;
    this.window.drain();
    this.messages = 0;
    this.bytes = 0;
    this.sentIndex = 0;
    this.nextSeq = 1;
    this.received = 0;
    this.unacked = 0;
    this.remote.clear();
    this.synced = false;
    this.initialSeq = 0;
    this.acked = 0;
    this.pendingUp = undefined;
    this.key = key;
    this.instance = instance;
    return lost;
  }

  /** Counts dropped messages under a reason. */
  countDrop(reason: DropReason, count: number): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + count;
  }

  /** Public snapshot. */
  info(): PeerInfo {
    return {
      id: this.id,
      state: this.connection ? "up" : "down",
      direction: this.direction,
      url: this.url,
      subscriptions: this.remote.size,
      pendingMessages: this.messages,
      pendingBytes: this.bytes,
      sent: this.stats.sent,
      received: this.stats.received,
      resent: this.stats.resent,
      dropped: { ...this.stats.dropped },
      resumes: this.stats.resumes,
    };
  }
}
