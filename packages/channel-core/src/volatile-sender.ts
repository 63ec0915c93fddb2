import type { Connection } from "./connection.js";
import type { PeerSession } from "./peer-session.js";
import { FrameType } from "./protocol/frames.js";
import { encodeSequenced } from "./protocol/codec.js";

/** What a {@link VolatileSender} needs from the mesh router. */
export interface VolatileHost {
  /** Most bytes of control frames queued per connection; volatile frames may take half of it per tick. */
  readonly maxControlBytes: number;
  /** Largest header a sequenced frame adds to its body. */
  readonly headerMax: number;
  /** True while `s` is the router's session for its peer. */
  isCurrent(s: PeerSession): boolean;
  /** Reports volatile messages that could not go. */
  dropped(s: PeerSession, count: number): void;
  /** A link this sender had blocked may be writable again. */
  recheck(): void;
}

/**
 * Volatile messages: never numbered, never kept for a resume. They go out where the link is up
 * and its socket has room: at once, or right behind normal messages still queued this tick
 * (order is kept). Elsewhere they are dropped and reported, and the link counts as blocked
 * until it can be written again (the channel's `drain` waits for it).
 */
export class VolatileSender {
  // Sessions a volatile publish could not reach; `drain` follows once each can be written again (or is gone).
  private readonly blocked = new Set<PeerSession>();
  // Volatile frames published right behind normal ones still queued this tick: they go out after them.
  private readonly deferred = new Map<PeerSession, Buffer[]>();
  // Connections given volatile frames this tick (each counts its bytes in `volatileBytes`, a
  // field rather than a map entry: two hash lookups per message), and whether the tick's end is scheduled.
  private readonly touched: Connection[] = [];
  private tick = false;

  constructor(private readonly host: VolatileHost) {}

  /** True while some link a volatile publish could not reach is still blocked. */
  get anyBlocked(): boolean {
    return this.blocked.size > 0;
  }

  /** Sends `body` to `s` now or right after its queued frames; false if it was dropped. */
  send(s: PeerSession, body: Buffer): boolean {
    const conn = s.connection;
    // Volatile frames wait in the connection's control queue until the next flush; within one
    // tick they may take half of it (limits.maxControlBytes), the rest stays for ACKs and PONGs.
    const size = body.length + this.host.headerMax;
    const used = conn ? conn.volatileBytes : 0;
    if (!conn?.writable || used + size > this.host.maxControlBytes / 2) {
      this.host.dropped(s, 1);
      this.blocked.add(s);
      this.scheduleTick();
      return false;
    }
    if (used === 0) this.touched.push(conn);
    conn.volatileBytes = used + size;
    const deferred = this.deferred.get(s);
    if (deferred) deferred.push(body);
    else if (s.allSent) {
      conn.sendRaw(encodeSequenced(FrameType.MSG, 0, body));
      s.countSent(1);
    } else this.deferred.set(s, [body]);
    // Scheduled after the connection's flush (which the queued frames already scheduled).
    this.scheduleTick();
    return true;
  }

  /**
   * Unblocks `s` (or, without it, every blocked session) if it is writable again or gone;
   * true if anything was unblocked.
   */
  unblock(s: PeerSession | undefined): boolean {
    if (this.blocked.size === 0) return false;
    let changed = false;
    for (const b of s ? [s] : [...this.blocked]) {
      if (!this.blocked.has(b)) continue;
      if (!this.host.isCurrent(b) || b.connection?.writable) {
        this.blocked.delete(b);
        changed = true;
      }
    }
    return changed;
  }

  private scheduleTick(): void {
    if (this.tick) return;
    this.tick = true;
    setImmediate(() => {
      this.tick = false;
      for (const conn of this.touched) conn.volatileBytes = 0;
      this.touched.length = 0;
      this.sendDeferred();
      // Blocked only by this tick's budget: the socket may well have room again now.
      if (this.blocked.size > 0) this.host.recheck();
    });
  }

  private sendDeferred(): void {
    if (this.deferred.size === 0) return;
    const all = [...this.deferred];
    this.deferred.clear();
    for (const [s, bodies] of all) {
      const conn = s.connection;
      if (conn?.writable && s.allSent && this.host.isCurrent(s)) {
        for (const body of bodies) conn.sendRaw(encodeSequenced(FrameType.MSG, 0, body));
        s.countSent(bodies.length);
      } else {
        // The queued window filled the socket (or the link went down) first.
        this.host.dropped(s, bodies.length);
        this.blocked.add(s);
      }
    }
  }
}
