import createDebug from "debug";
import { addressKey } from "./admission.js";
import { knownKeys } from "./arguments.js";
import { Connection, type ConnectionHost } from "./connection.js";
import { Dialer, type DialerHost } from "./dialer.js";
import {
  AuthThrottledError,
  type ChannelError,
  ClosedError,
  DuplicateIdError,
  ErrorCode,
  InvalidOptionError,
  LimitExceededError,
  PayloadError,
  ProtocolError,
} from "./errors.js";
import { type MeshConfig, meshConfig, positive } from "./mesh-options.js";
import { PeerSession } from "./peer-session.js";
import { encodePatternsBody, headerLength } from "./protocol/codec.js";
import { FrameType, type Frame, type HelloFrame, type ReadyFrame } from "./protocol/frames.js";
import { assertPattern } from "./protocol/topic.js";
import type { LinkingRouter, RoutePublishOptions, RouterHost } from "./router.js";
import type { DialOptions, TransportConnection, TransportLimits, TransportListener } from "./transport/transport.js";
import { checkDialOptions } from "./transport/ws-transport.js";
import type { ConnectOptions, DropReason, LinkDownReason, ListenAddress, ListenOptions, MeshOptions, PeerInfo } from "./types.js";
import { VolatileSender } from "./volatile-sender.js";

const debug = createDebug("sfn:channel");

const SEQ_HEADER_MAX = headerLength(Number.MAX_SAFE_INTEGER);
const DISCONNECT_REASONS: ReadonlySet<LinkDownReason> = new Set(["closed", "disconnected", "peer-closed", "peer-disconnected"]);

/** Throws `InvalidOptionError` for listen options no listener could honour. */
function checkListenOptions(options: ListenOptions): void {
  if (options === null || typeof options !== "object")
    throw new InvalidOptionError("listen takes { port, host?, path?, tls? } or { server, path? }");
  knownKeys("listen's options", options, "server" in options ? ["server", "path"] : ["port", "host", "path", "tls"]);
  const { path } = options;
  if (path !== undefined && (typeof path !== "string" || !path.startsWith("/"))) {
    throw new InvalidOptionError(`path must be a string starting with "/" (got ${JSON.stringify(path)})`);
  }
  if ("server" in options) return;
  const { port, host } = options as { port: unknown; host?: unknown };
  const valid = typeof port === "number" ? Number.isInteger(port) : typeof port === "string" && /^\d{1,5}$/.test(port);
  if (!valid || Number(port) < 0 || Number(port) > 65535) {
    throw new InvalidOptionError(
      `port must be an integer from 0 to 65535, a number or a string of digits (0 picks a free one; got ${JSON.stringify(port)})`,
    );
  }
  if (host !== undefined && (typeof host !== "string" || host.length === 0))
    throw new InvalidOptionError("host must be a non-empty string");
}

/**
 * The mesh: direct, authenticated links between services (`listen`/`connect`), each with a
 * resume window so a short failure loses and duplicates nothing. The default router of every
 * `MessageChannel`; its options are the channel's mesh options.
 *
 * @example
 * ```ts
 * const message = new MessageChannel({ id: "rpc-server-1", router: new MeshRouter({ secret }) });
 * await message.listen({ port: 4000 });
 * ```
 */
export class MeshRouter implements LinkingRouter {
  private readonly config: MeshConfig;
  private channel!: RouterHost;
  private links!: ConnectionHost & DialerHost;
  private readonly transportOf = new WeakMap<Connection, TransportConnection>();
  private readonly dialOptions = new Map<string, DialOptions>();
  private readonly sessions = new Map<string, PeerSession>();
  /** The sessions as an array, rebuilt after a change: `publish` walks it for every message. */
  private sessionList: PeerSession[] | undefined;
  private readonly connections = new Set<Connection>();
  private readonly listeners: TransportListener[] = [];
  private readonly dialers = new Map<string, Dialer>();
  private readonly dialerOf = new WeakMap<Connection, Dialer>();
  private readonly downWaiters = new Map<string, (() => void)[]>();
  private readonly congested = new Set<PeerSession>();
  private readonly gone = new WeakMap<Connection, () => void>();
  private readonly volatile: VolatileSender;
  private closed = false;
  /** Set while `drain` waits for peers to acknowledge what was published. */
  private drained: (() => void) | undefined;

  /** Checks the options (throwing `InvalidOptionError`); nothing opens before `listen` or `connect`. */
  constructor(options: MeshOptions = {}) {
    this.config = meshConfig(options);
    this.volatile = new VolatileSender({
      maxControlBytes: this.config.maxControlBytes,
      headerMax: SEQ_HEADER_MAX,
      isCurrent: (s) => this.sessions.get(s.id) === s,
      dropped: (s, count) => this.drop(s.id, count, "volatile"),
      recheck: () => this.maybeDrain(undefined),
    });
  }

  private get id(): string {
    return this.channel.id;
  }

  attach(channel: RouterHost): void {
    if (this.links) throw new InvalidOptionError("a router serves one channel; create one per MessageChannel");
    this.channel = channel;
    const c = this.config;
    // Conventional `this`-less object: Connection and Dialer see only what they need.
    this.links = {
      id: channel.id,
      instance: channel.instance,
      secret: c.secret,
      maxFrameSize: c.maxFrameSize,
      handshakeTimeout: c.handshakeTimeout,
      heartbeatInterval: c.heartbeatInterval,
      heartbeatTimeout: c.heartbeatTimeout,
      decodeLimits: c.decodeLimits,
      maxControlBytes: c.maxControlBytes,
      backoff: c.backoff,
      resumable: (peer) => this.resumable(peer),
      linkReady: (conn, ...rest) => {
        this.linkReady(conn, ...rest);
        // The handshake is over: lift the transport's pre-authentication byte budget.
        if (conn.state === "open") this.transportOf.get(conn)?.authenticated?.();
      },
      handshakeFailed: (remote) => this.handshakeFailed(remote),
      authSucceeded: (remote) => this.authSucceeded(remote),
      linkFrame: (conn, session, frame) => this.linkFrame(conn, session, frame),
      linkClosed: (conn, reason, error) => this.linkClosed(conn, reason, error),
      linkWritable: () => this.maybeDrain(undefined),
      dial: (url, dialer) => this.dial(url, dialer),
      linkDown: (peer) => this.waitForDown(peer),
      isUp: (peer) => this.sessions.get(peer)?.connection !== undefined,
      report: (error) => channel.report(error),
    };
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  async listen(options: ListenOptions): Promise<ListenAddress> {
    this.assertOpen();
    checkListenOptions(options);
    const { pendingHandshakes, authLimiter } = this.config;
    const listener = await this.config.transport.listen(
      options,
      { ...this.limits(), helloTimeout: this.config.helloTimeout },
      (t) => {
        if (this.closed) {
          t.terminate();
          return;
        }
        // Unauthenticated connections cost memory before they prove anything: the newest is
        // admitted and, past the caps, the oldest pending ones (of its address first) go.
        const conn = new Connection(this.links, t, "inbound", undefined);
        this.transportOf.set(conn, t);
        this.connections.add(conn);
        const evicted = pendingHandshakes.add(
          {
            get pending() {
              return conn.state === "handshake";
            },
            evict: () => {
              debug("%s: evicting the pending handshake of %s", this.id, t.remote);
              conn.terminate();
            },
          },
          addressKey(t.remote),
        );
        if (evicted.length > 0) debug("%s: %d pending handshake(s) evicted for %s", this.id, evicted.length, t.remote);
      },
      (remote) => {
        const wait = authLimiter.retryAfter(addressKey(remote), Date.now());
        return wait > 0 ? { ok: false, retryAfter: wait } : { ok: true };
      },
    );
    if (this.closed) {
      await listener.close();
      throw new ClosedError();
    }
    this.listeners.push(listener);
    debug("%s listening on %s", this.id, listener.address.url);
    return listener.address;
  }

  async connect(url: string, options: ConnectOptions = {}): Promise<void> {
    this.assertOpen();
    knownKeys("connect's options", options, ["timeout", "tls", "identity"]);
    if (this.dialers.get(url)?.done === false) throw new InvalidOptionError(`already connected to ${url}`);
    const dialOptions: DialOptions = { tls: options.tls, identity: options.identity };
    checkDialOptions(url, dialOptions);
    this.dialOptions.set(url, dialOptions);
    const dialer = new Dialer(this.links, url);
    this.dialers.set(url, dialer);
    try {
      await dialer.start(positive("timeout", options.timeout, 10000));
    } catch (error) {
      if (this.dialers.get(url) === dialer) this.dialers.delete(url);
      throw error;
    }
  }

  async disconnect(idOrUrl: string): Promise<void> {
    const dialer = this.dialers.get(idOrUrl) ?? [...this.dialers.values()].find((d) => d.peer === idOrUrl);
    const peer = dialer?.peer ?? idOrUrl;
    if (dialer) {
      dialer.stop();
      this.dialers.delete(dialer.url);
    }
    const session = this.sessions.get(peer);
    const conn = session?.connection;
    if (session && conn) {
      const gone = this.waitForDown(peer);
      conn.close("disconnected", "disconnect");
      await gone;
    } else if (session) {
      this.endSession(session, "disconnected");
    }
  }

  peers(): PeerInfo[] {
    return [...this.sessions.values()].map((s) => s.info());
  }

  servers(topic: string): string[] {
    const out: string[] = [];
    for (const s of this.sessions.values()) if (s.remote.matches(topic)) out.push(s.id);
    return out;
  }

  checkPayload(topic: string, body: Buffer): void {
    // Whoever subscribes: a payload that could never cross a link fails the same way with or
    // without peers, and fails with no side effect.
    if (body.length + SEQ_HEADER_MAX > this.config.maxFrameSize) {
      throw new PayloadError(`message on "${topic}" is ${body.length} bytes, over maxFrameSize (${this.config.maxFrameSize})`);
    }
  }

  publish(topic: string, body: Buffer, options: RoutePublishOptions): boolean {
    const { to } = options;
    if (to) {
      for (const id of to) if (id !== this.id && !this.sessions.has(id)) this.drop(id, 1, "no-link");
    }
    let ok = true;
    const list = (this.sessionList ??= [...this.sessions.values()]);
    for (let i = 0; i < list.length; i++) {
      const s = list[i] as PeerSession;
      if ((to && !to.has(s.id)) || !s.remote.matches(topic)) continue;
      if (s.peerMaxFrameSize && body.length + SEQ_HEADER_MAX > s.peerMaxFrameSize) {
        this.drop(s.id, 1, "too-large");
        continue;
      }
      if (options.volatile) {
        if (!this.volatile.send(s, body)) ok = false;
        continue;
      }
      const result = s.offer(body, SEQ_HEADER_MAX);
      if (result === "window-full") {
        this.drop(s.id, 1, "window-full");
        ok = false;
        continue;
      }
      if (result === "congested") {
        // The window just passed half a cap: ask the peer for its acknowledgement now, not after its delay.
        if (!this.congested.has(s)) s.connection?.requestAck();
        this.congested.add(s);
        ok = false;
      }
      s.connection?.scheduleFlush();
    }
    return ok;
  }

  /** Tells every peer session about a subscription change (kept in the window, so it survives reconnects). */
  interest(change: "sub" | "unsub", pattern: string): void {
    if (this.sessions.size === 0) return;
    const body = encodePatternsBody([pattern]);
    const type = change === "sub" ? FrameType.SUB : FrameType.UNSUB;
    for (const s of this.sessions.values()) {
      s.enqueue(type, body);
      s.connection?.scheduleFlush();
    }
  }

  /** Resolves once no open link has unacknowledged frames (checked on every ACK and link loss), or after `timeout`. */
  drain(timeout: number): Promise<void> {
    if (!this.windowsBusy()) return Promise.resolve();
    for (const s of this.sessions.values()) if (s.windowLength > 0) s.connection?.requestAck();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.drained = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeout);
      this.drained = done;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const d of this.dialers.values()) d.stop(new ClosedError());
    this.dialers.clear();
    const waits = [...this.connections].map((c) => this.connectionGone(c));
    for (const c of this.connections) {
      if (c.state === "open") c.close("closed", "close");
      else c.close("closed");
    }
    const timeout = setTimeout(() => {
      for (const c of this.connections) c.terminate();
    }, 2000);
    await Promise.all(waits);
    clearTimeout(timeout);
    await Promise.all(this.listeners.splice(0).map((l) => l.close()));
    for (const s of [...this.sessions.values()]) this.endSession(s, "disconnected");
  }

  // ---- links ------------------------------------------------------------------------------

  private limits(): TransportLimits {
    return { maxFrameSize: this.config.maxFrameSize, openTimeout: this.config.handshakeTimeout, preAuthBytes: this.config.maxPreAuthBytes };
  }

  /** A connection from `remote` failed its handshake: count it, and ban the address after too many. */
  private handshakeFailed(remote: string): void {
    // Dialled connections report their URL: failures of peers this side chose are not throttled.
    if (remote.includes("://")) return;
    const ban = this.config.authLimiter.failed(addressKey(remote), Date.now());
    if (!ban) return;
    debug("%s: %d failed handshakes from %s, refusing it for %d ms", this.id, ban.failures, ban.address, ban.duration);
    this.channel.report(
      new AuthThrottledError(
        `${ban.failures} failed handshakes from ${ban.address}: its connections are refused for ${ban.duration} ms`,
        ban.address,
        ban.failures,
        ban.duration,
      ),
    );
  }

  private authSucceeded(remote: string): void {
    if (!remote.includes("://")) this.config.authLimiter.succeeded(addressKey(remote));
  }

  private async dial(url: string, dialer: Dialer): Promise<void> {
    const t = await this.config.transport.dial(url, this.limits(), this.dialOptions.get(url));
    if (this.closed || dialer.done) {
      t.terminate();
      return;
    }
    const conn = new Connection(this.links, t, "outbound", url);
    this.transportOf.set(conn, t);
    this.dialerOf.set(conn, dialer);
    this.connections.add(conn);
  }

  /** The session this side holds for `peer`, offered for a resume in a dialer's READY. */
  private resumable(peer: string): { key: Uint8Array; received: number } | undefined {
    const s = this.sessions.get(peer);
    return s?.key ? { key: s.key, received: s.received } : undefined;
  }

  /**
   * The verified peer's READY arrived on `conn`: resume its session or start a new one, or
   * refuse the connection (docs/protocol.md, "Admission"). Resuming a session, and replacing
   * its live connection, both need proof of the session's key.
   */
  private linkReady(conn: Connection, ready: ReadyFrame): void {
    const hello = conn.peer as HelloFrame;
    const id = hello.id;
    if (this.closed) {
      conn.close("closed", "close");
      return;
    }
    const existing = this.sessions.get(id);
    const key = existing?.key;
    // The acceptor checks the dialer's MAC here; a dialer's Connection already checked the
    // acceptor's MAC against the key it offered, which must still be this session's.
    const proven =
      key != null &&
      existing?.instance === ready.instance &&
      (conn.direction === "inbound" ? conn.resumeProven(key, ready) : ready.resume !== null && conn.offeredKey === key);
    if (conn.direction === "outbound" && ready.resume !== null && !proven) {
      // The acceptor resumed a session this side no longer holds: start over on a new connection.
      conn.close("superseded", "superseded");
      return;
    }
    const current = existing?.connection;
    if (existing && current && current !== conn) {
      if (!proven) {
        // A live link is never replaced on a newcomer's word.
        if (conn.direction === "outbound") {
          // Our own dial met the link the peer opened to us (simultaneous dials): keep that one.
          conn.close("superseded", "superseded");
        } else {
          // The same instance from the other direction is what simultaneous dials look like:
          // refused all the same, but not reported as an error.
          const race = existing.instance === ready.instance && current.direction === "outbound";
          const why = race ? "its link to this service is already open" : "is already linked to another running instance";
          conn.fail(
            new DuplicateIdError(`service id "${id}" ${why}; a second connection must prove the session's key`, { peer: id }),
            !race,
          );
        }
        return;
      }
      // Two proven connections of one session: a stale one being replaced, or both sides
      // dialling each other. Keep the newer of a same-direction pair; across directions keep
      // the one dialled by the smaller id, so both sides make the same choice.
      const keepNew = current.direction === conn.direction || (conn.direction === "outbound") === this.id < id;
      if (!keepNew) {
        conn.close("superseded", "superseded");
        return;
      }
      existing.unbind();
      current.close("superseded", "superseded");
    } else if (!current) {
      // Both sides dialled each other and no link is open yet: the same tie-break, against a
      // connection whose peer has already proven itself.
      for (const other of this.connections) {
        if (
          other !== conn &&
          other.state === "handshake" &&
          other.peerVerified &&
          other.peerId === id &&
          other.direction !== conn.direction &&
          (other.direction === "outbound") === this.id < id
        ) {
          conn.close("superseded", "superseded");
          return;
        }
      }
    }
    if (!existing && this.sessions.size >= this.config.maxPeers) {
      conn.fail(new LimitExceededError(`service "${this.id}" already has ${this.config.maxPeers} peers`, { peer: id }));
      return;
    }
    const s = existing ?? new PeerSession(id, { maxMessages: this.config.windowMessages, maxBytes: this.config.windowBytes });
    if (proven && ready.received > s.lastSeq) {
      conn.fail(
        new ProtocolError(ErrorCode.MALFORMED_FRAME, `peer acknowledged frame ${ready.received} that was never sent`, { peer: id }),
      );
      return;
    }
    // The acceptor answers only now, once it has decided: READY reveals its instance.
    if (conn.direction === "inbound") conn.sendReady(proven ? key : null, proven ? s.received : 0);
    const resumed = proven;
    if (resumed) {
      s.resume(ready.received);
    } else {
      const restarted = s.instance !== "" && s.instance !== ready.instance;
      // The old session's window is gone, and with it this link's congestion.
      const wasCongested = this.congested.delete(s);
      const lost = s.reset(conn.key ?? null, ready.instance);
      if (lost > 0) this.drop(s.id, lost, restarted ? "peer-restarted" : "peer-gone");
      // The full subscription state opens every new session, even when empty: the peer
      // counts the link as up only once it knows what this side wants. Chunks stay below half
      // the peer's maxFrameSize (and 32 KiB), whatever the patterns' lengths.
      const chunkBytes = Math.min(32 * 1024, Math.floor(hello.maxFrameSize / 2));
      for (const chunk of chunkPatterns(this.channel.patterns(), chunkBytes)) s.enqueue(FrameType.SUB, encodePatternsBody(chunk));
      s.markInitialState();
      if (wasCongested) this.maybeDrain(undefined, true);
    }
    s.bind(conn, hello.maxFrameSize);
    this.sessions.set(s.id, s);
    this.sessionList = undefined;
    conn.open(s);
    s.awaitUp(resumed);
    this.maybeUp(s);
  }

  /** Counts the link as up once both sides know each other's subscriptions. */
  private maybeUp(s: PeerSession): void {
    const up = s.takeUp();
    if (up) this.linkUp(s, up.resumed);
  }

  /** The link is usable: both sides know each other's subscriptions. */
  private linkUp(s: PeerSession, resumed: boolean): void {
    const conn = s.connection;
    if (!conn) return;
    debug("%s: link to %s up (%s, %s)", this.id, s.id, conn.direction, resumed ? "resumed" : "new session");
    this.dialerOf.get(conn)?.up(s.id);
    // A dialer whose own connection lost a simultaneous-dial tie-break is linked all the same.
    for (const d of this.dialers.values()) if (d.peer === s.id) d.up(s.id);
    this.channel.linkUp({ peer: s.id, resumed, direction: conn.direction, url: conn.url });
    this.maybeDrain(s);
  }

  private linkFrame(conn: Connection, s: PeerSession, frame: Frame): void {
    switch (frame.type) {
      case FrameType.ACK:
        if (frame.seq > s.lastSeq) throw new ProtocolError(ErrorCode.MALFORMED_FRAME, `ACK ${frame.seq} for a frame never sent`);
        if (s.acknowledge(frame.seq) > 0) conn.noteProgress();
        this.maybeUp(s);
        this.maybeDrain(s);
        this.checkDrained();
        return;
      case FrameType.MSG:
        if (frame.seq !== 0 && !this.accept(conn, s, frame.seq)) return;
        s.countReceived();
        this.channel.deliver(frame.topic, frame.data, s.id);
        return;
      case FrameType.SUB:
      case FrameType.UNSUB:
        for (const p of frame.patterns) assertPattern(p, true);
        if (!this.accept(conn, s, frame.seq)) return;
        if (frame.type === FrameType.UNSUB) {
          for (const p of frame.patterns) s.remote.delete(p);
          return;
        }
        for (const p of frame.patterns) s.remote.add(p);
        this.checkRemoteInterest(s);
        if (s.markSynced()) {
          // The peer waits for this acknowledgement before it counts the link as up.
          conn.queueAck();
          this.maybeUp(s);
        }
        return;
      default:
        throw new ProtocolError(ErrorCode.MALFORMED_FRAME, `unexpected frame type ${frame.type}`);
    }
  }

  /** A peer's subscriptions must stay within the per-peer limits, and all peers' within the global one. */
  private checkRemoteInterest(s: PeerSession): void {
    const r = s.remote;
    const c = this.config;
    let what: string | undefined;
    if (r.size > c.maxRemoteSubscriptions) what = `more than ${c.maxRemoteSubscriptions} patterns (limits.maxRemoteSubscriptions)`;
    else if (r.wildcards > c.maxRemoteWildcards) what = `more than ${c.maxRemoteWildcards} wildcard patterns (limits.maxRemoteWildcards)`;
    else if (r.bytes > c.maxRemotePatternBytes)
      what = `patterns of more than ${c.maxRemotePatternBytes} bytes (limits.maxRemotePatternBytes)`;
    else {
      let total = 0;
      for (const other of this.sessions.values()) total += other.remote.bytes;
      if (total > c.maxTotalRemotePatternBytes)
        what = `patterns that take all peers past ${c.maxTotalRemotePatternBytes} bytes (limits.maxTotalRemotePatternBytes)`;
    }
    if (what) throw new LimitExceededError(`peer "${s.id}" subscribed to ${what}`, { peer: s.id });
  }

  /** Sequencing of received frames: false for a duplicate (already had it before a resume). */
  private accept(conn: Connection, s: PeerSession, seq: number): boolean {
    const gap = s.receive(seq);
    if (gap === "duplicate") return false;
    if (gap > 0) this.drop(s.id, gap, "gap");
    conn.noteReceived(s);
    return true;
  }

  private linkClosed(conn: Connection, reason: LinkDownReason, error: ChannelError | undefined): void {
    this.connections.delete(conn);
    // Only a verified peer's id may steer the dialer (an unverified one could claim any).
    const peerId = conn.verifiedPeerId;
    if (
      error?.code === ErrorCode.DUPLICATE_ID &&
      conn.direction === "outbound" &&
      peerId !== undefined &&
      peerId !== this.id &&
      this.sessions.get(peerId)?.connection
    ) {
      // Refused because the peer's own connection to us is the link (simultaneous dials).
      reason = "superseded";
      error = undefined;
    }
    if (error) this.channel.report(error);
    const s = conn.session;
    if (s && s.connection === conn) {
      s.unbind();
      debug("%s: link to %s down (%s)", this.id, s.id, reason);
      this.channel.linkDown({ peer: s.id, reason, error });
      if (DISCONNECT_REASONS.has(reason)) this.endSession(s, "disconnected");
      else if (!this.closed) s.expireAfter(this.config.resumeTimeout, () => this.endSession(s, "peer-gone"));
      const waiters = this.downWaiters.get(s.id);
      this.downWaiters.delete(s.id);
      for (const w of waiters ?? []) w();
    }
    const dialer = this.dialerOf.get(conn);
    if (dialer) {
      dialer.down(reason, error, peerId);
      // A dialer that gave up (the peer disconnected us, or refused for good) frees its URL.
      if (dialer.done && this.dialers.get(dialer.url) === dialer) this.dialers.delete(dialer.url);
    }
    this.gone.get(conn)?.();
    this.checkDrained();
  }

  private endSession(s: PeerSession, reason: DropReason): void {
    s.clearExpiry();
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    this.sessionList = undefined;
    const wasCongested = this.congested.delete(s);
    const lost = s.reset(null, "");
    if (lost > 0) this.drop(s.id, lost, reason);
    this.maybeDrain(undefined, wasCongested);
  }

  private connectionGone(conn: Connection): Promise<void> {
    return new Promise((resolve) => this.gone.set(conn, resolve));
  }

  private waitForDown(peer: string): Promise<void> {
    if (!this.sessions.get(peer)?.connection) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.downWaiters.get(peer) ?? [];
      list.push(resolve);
      this.downWaiters.set(peer, list);
    });
  }

  /** True while a linked peer has not acknowledged everything sent to it. */
  private windowsBusy(): boolean {
    for (const s of this.sessions.values()) if (s.connection && s.windowLength > 0) return true;
    return false;
  }

  private checkDrained(): void {
    if (this.drained && !this.windowsBusy()) this.drained();
  }

  /**
   * Tells the channel to emit `drain` once nothing that made `publish` return false holds any
   * more: every window below its low-water mark, and every link a volatile publish could not
   * reach writable again (or gone). `s`: the session that made progress; none: a socket
   * emptied or a session ended.
   */
  private maybeDrain(s: PeerSession | undefined, changed = false): void {
    if (s?.relieve()) {
      this.congested.delete(s);
      changed = true;
    }
    if (this.volatile.unblock(s)) changed = true;
    if (changed && this.congested.size === 0 && !this.volatile.anyBlocked) this.channel.drained();
  }

  private drop(peer: string, count: number, reason: DropReason): void {
    this.sessions.get(peer)?.countDrop(reason, count);
    this.channel.drop(peer, count, reason);
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError();
  }
}

/** Splits patterns into lists of at most ~`maxBytes` characters each; always at least one list. */
export function chunkPatterns(patterns: readonly string[], maxBytes: number): string[][] {
  const chunks: string[][] = [[]];
  let size = 0;
  for (const p of patterns) {
    const cost = p.length * 3 + 5;
    if (size + cost > maxBytes && chunks[chunks.length - 1]!.length > 0) {
      chunks.push([]);
      size = 0;
    }
    chunks[chunks.length - 1]!.push(p);
    size += cost;
  }
  return chunks;
}
