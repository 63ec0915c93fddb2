import { EventEmitter } from "node:events";
import createDebug from "debug";
import { AuthLimiter, PendingHandshakes, addressKey, toSecret } from "./admission.js";
import { createInstanceId } from "./auth.js";
import { DEFAULT_BACKOFF, type Backoff } from "./backoff.js";
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
  SubscriberError,
} from "./errors.js";
import { LocalSubscriptions } from "./interest.js";
import { PeerSession } from "./peer-session.js";
import { FrameType, type Frame, type HelloFrame, type ReadyFrame } from "./protocol/frames.js";
import { encodeMessageBody, encodePatternsBody, encodeSequenced, headerLength, type DecodeLimits } from "./protocol/codec.js";
import { assertPattern, assertTopic } from "./protocol/topic.js";
import type { DialOptions, Transport, TransportConnection, TransportLimits, TransportListener } from "./transport/transport.js";
import { WsTransport, checkDialOptions } from "./transport/ws-transport.js";
import type {
  ConnectOptions,
  DefaultTopics,
  DropInfo,
  DropReason,
  LinkDownReason,
  ListenAddress,
  ListenOptions,
  Listener,
  MessageChannelEvents,
  MessageChannelOptions,
  MessageMeta,
  PeerInfo,
  PublishOptions,
  TopicMap,
  Unsubscribe,
} from "./types.js";
import type { PatternData, TopicsMatching } from "./typed-topics.js";

const debug = createDebug("sfn:channel");

/** Key of the wider API the adapter packages use (see `@sfn/channel-core/internal`). */
export const INTERNAL = Symbol.for("sfn.channel.internal");

/** Options of {@link InternalApi.publishTo}. */
export interface PublishToOptions {
  /** Only these services, each of which must have subscribed to the topic; absent: every one that did. */
  via?: readonly string[];
  /** Never kept for a resume. */
  volatile?: boolean;
}

/** Result of {@link InternalApi.publishTo}. */
export interface PublishToResult {
  /** What `publish` returned (false: backpressure, or nowhere to go). */
  ok: boolean;
  /** Services named in `via` that did not subscribe to the topic (nothing was sent to them). */
  unknown: string[];
}

/** Publish/subscribe that may use the reserved `$sfn.` prefix; for adapter packages only. */
export interface InternalApi {
  publish(topic: string, data: unknown, options?: PublishOptions): boolean;
  subscribe(pattern: string, listener: Listener): Unsubscribe;
  /** Services subscribed to `topic`: this one first if it is, then linked peers (up, or down within their resume window). */
  servers(topic: string): string[];
  /**
   * Publishes to the services subscribed to `topic`, or only to those named in `via`; names
   * that did not subscribe are returned in `unknown` for the caller to report.
   */
  publishTo(topic: string, data: unknown, options?: PublishToOptions): PublishToResult;
  /** Reports an error through the channel's `error` event (or a warning without listeners). */
  report(error: ChannelError): void;
}

/** Anything that carries the adapter API: every `MessageChannel`, whatever its topic map. */
export interface ChannelLike {
  readonly id: string;
  readonly [INTERNAL]: InternalApi;
}

/** Options of `close`. */
export interface CloseOptions {
  /** How long to wait for peers to acknowledge what was already published, in ms. @default 2000 */
  drainTimeout?: number;
}

type AnyListener = Listener<unknown>;

const SEQ_HEADER_MAX = headerLength(Number.MAX_SAFE_INTEGER);
const CORE_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const DISCONNECT_REASONS: ReadonlySet<LinkDownReason> = new Set(["closed", "disconnected", "peer-closed", "peer-disconnected"]);

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(`${name} must be a positive number`);
  return value;
}

/**
 * A service's end of the mesh: a unique id, links to other services, and topic-based
 * publish/subscribe across them. Messages reach local subscribers and every linked
 * service that subscribed to a matching topic; each link keeps a resume window so a short
 * failure loses and duplicates nothing.
 *
 * @example
 * ```ts
 * const a = new MessageChannel({ id: "rpc-server-1" });
 * const { url } = await a.listen({ port: 4000 });
 * const b = new MessageChannel({ id: "rpc-server-2" });
 * b.subscribe("greeting", (msg) => console.log(msg));
 * await b.connect(url);
 * a.publish("greeting", "Hello, World!");
 * ```
 */
export class MessageChannel<Topics extends TopicMap = DefaultTopics> extends EventEmitter<MessageChannelEvents> {
  /** This service's id. */
  readonly id: string;
  /** Random id of this instance; peers use it to tell a restart from a reconnect. */
  readonly instance = createInstanceId();

  private readonly host: ConnectionHost & DialerHost;
  private readonly transport: Transport;
  private readonly windowMessages: number;
  private readonly windowBytes: number;
  private readonly resumeTimeout: number;
  private readonly maxRemoteSubscriptions: number;
  private readonly maxRemoteWildcards: number;
  private readonly maxRemotePatternBytes: number;
  private readonly maxTotalRemotePatternBytes: number;
  private readonly pendingHandshakes: PendingHandshakes<{ readonly pending: boolean; evict(): void }>;
  private readonly authLimiter: AuthLimiter;
  private readonly helloTimeout: number;
  private readonly maxPreAuthBytes: number;
  private readonly transportOf = new WeakMap<Connection, TransportConnection>();
  private readonly dialOptions = new Map<string, DialOptions>();
  private readonly maxPeers: number;
  private readonly local = new LocalSubscriptions<AnyListener>();
  private readonly sessions = new Map<string, PeerSession>();
  private readonly connections = new Set<Connection>();
  private readonly listeners_: TransportListener[] = [];
  private readonly dialers = new Map<string, Dialer>();
  private readonly dialerOf = new WeakMap<Connection, Dialer>();
  private readonly downWaiters = new Map<string, (() => void)[]>();
  private readonly congested = new Set<PeerSession>();
  private readonly gone = new WeakMap<Connection, () => void>();
  private pendingDrops = new Map<string, DropInfo>();
  // Sessions a volatile publish could not reach; `drain` follows once each can be written again (or is gone).
  private readonly volatileBlocked = new Set<PeerSession>();
  // Volatile frames published right behind normal ones still queued this tick: they go out after them.
  private readonly deferredVolatile = new Map<PeerSession, Buffer[]>();
  // Bytes of volatile frames handed to each connection this tick, and whether the tick's end is scheduled.
  private readonly volatileBytes = new Map<Connection, number>();
  private volatileTick = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Set while `close` waits for peers to acknowledge what was published. */
  private drained: (() => void) | undefined;

  constructor(options: MessageChannelOptions) {
    super();
    if (typeof options?.id !== "string" || options.id.length === 0 || options.id.length > 256) {
      throw new InvalidOptionError("id must be a non-empty string of at most 256 characters");
    }
    this.id = options.id;
    this.transport = options.transport ?? new WsTransport();
    const hb = options.heartbeat ?? {};
    const heartbeatInterval = positive("heartbeat.interval", hb.interval, 5000);
    const heartbeatTimeout = positive("heartbeat.timeout", hb.timeout, Math.max(15000, heartbeatInterval * 3));
    if (heartbeatTimeout <= heartbeatInterval) throw new InvalidOptionError("heartbeat.timeout must exceed heartbeat.interval");
    const w = options.window ?? {};
    this.windowMessages = positive("window.maxMessages", w.maxMessages, 65536);
    this.windowBytes = positive("window.maxBytes", w.maxBytes, 16 * 1024 * 1024);
    this.resumeTimeout = positive("window.resumeTimeout", w.resumeTimeout, 30000);
    this.maxRemoteSubscriptions = positive("limits.maxRemoteSubscriptions", options.limits?.maxRemoteSubscriptions, 10000);
    this.maxRemoteWildcards = positive("limits.maxRemoteWildcards", options.limits?.maxRemoteWildcards, 1000);
    this.maxRemotePatternBytes = positive("limits.maxRemotePatternBytes", options.limits?.maxRemotePatternBytes, 4 * 1024 * 1024);
    this.maxTotalRemotePatternBytes = positive(
      "limits.maxTotalRemotePatternBytes",
      options.limits?.maxTotalRemotePatternBytes,
      64 * 1024 * 1024,
    );
    const limits = options.limits ?? {};
    this.pendingHandshakes = new PendingHandshakes(
      positive("limits.maxPendingHandshakes", limits.maxPendingHandshakes, 256),
      positive("limits.maxPendingHandshakesPerAddress", limits.maxPendingHandshakesPerAddress, 16),
    );
    const handshakeTimeout = positive("handshakeTimeout", options.handshakeTimeout, 10000);
    this.helloTimeout = positive("limits.helloTimeout", limits.helloTimeout, Math.min(handshakeTimeout, 3000));
    this.maxPreAuthBytes = positive("limits.maxPreAuthBytes", limits.maxPreAuthBytes, 64 * 1024);
    const authBan = positive("limits.authBan", limits.authBan, 1000);
    this.authLimiter = new AuthLimiter({
      maxFailures: positive("limits.maxAuthFailures", limits.maxAuthFailures, 10),
      window: positive("limits.authFailureWindow", limits.authFailureWindow, 10000),
      ban: authBan,
      maxBan: Math.max(authBan, positive("limits.maxAuthBan", limits.maxAuthBan, 60000)),
    });
    this.maxPeers = positive("limits.maxPeers", options.limits?.maxPeers, 1024);
    const backoff: Backoff = { ...DEFAULT_BACKOFF, ...options.reconnect };
    positive("reconnect.initialDelay", backoff.initialDelay, 1);
    positive("reconnect.maxDelay", backoff.maxDelay, 1);
    if (backoff.jitter < 0 || backoff.jitter > 1) throw new InvalidOptionError("reconnect.jitter must be between 0 and 1");
    const decodeLimits: DecodeLimits = { maxPatternsPerFrame: this.maxRemoteSubscriptions };
    // Conventional `this`-less object: Connection and Dialer see only what they need.
    this.host = {
      id: this.id,
      instance: this.instance,
      secret: toSecret(options.secret),
      maxFrameSize: positive("maxFrameSize", options.maxFrameSize, 1024 * 1024),
      handshakeTimeout,
      heartbeatInterval,
      heartbeatTimeout,
      decodeLimits,
      maxControlBytes: positive("limits.maxControlBytes", options.limits?.maxControlBytes, 1024 * 1024),
      backoff,
      resumable: (peer) => this.resumable(peer),
      linkReady: (conn, ...rest) => {
        this.linkReady(conn, ...rest);
        // The handshake is over: lift the transport's pre-authentication byte budget.
        if (conn.state === "open") this.transportOf.get(conn)?.authenticated?.();
      },
      authFailed: (remote) => this.authFailed(remote),
      authSucceeded: (remote) => this.authSucceeded(remote),
      linkFrame: (conn, session, frame) => this.linkFrame(conn, session, frame),
      linkClosed: (conn, reason, error) => this.linkClosed(conn, reason, error),
      linkWritable: () => this.maybeDrain(undefined),
      dial: (url, dialer) => this.dial(url, dialer),
      linkDown: (peer) => this.waitForDown(peer),
      isUp: (peer) => this.sessions.get(peer)?.connection !== undefined,
      report: (error) => this.report(error),
    };
  }

  /**
   * Accepts links: on an own port (`{ port, host }`, port 0 picks one) or on a path of an
   * existing `http.Server` (`{ server, path }`). Resolves with the URL peers connect to.
   */
  async listen(options: ListenOptions): Promise<ListenAddress> {
    this.assertOpen();
    const listener = await this.transport.listen(
      options,
      { ...this.limits(), helloTimeout: this.helloTimeout },
      (t) => {
        if (this.closed) {
          t.terminate();
          return;
        }
        // Unauthenticated connections cost memory before they prove anything: the newest is
        // admitted and, past the caps, the oldest pending ones (of its address first) go.
        const conn = new Connection(this.host, t, "inbound", undefined);
        this.transportOf.set(conn, t);
        this.connections.add(conn);
        const evicted = this.pendingHandshakes.add(
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
        const wait = this.authLimiter.retryAfter(addressKey(remote), Date.now());
        return wait > 0 ? { ok: false, retryAfter: wait } : { ok: true };
      },
    );
    if (this.closed) {
      await listener.close();
      throw new ClosedError();
    }
    this.listeners_.push(listener);
    debug("%s listening on %s", this.id, listener.address.url);
    return listener.address;
  }

  /**
   * Links to the service at `url`. Resolves once the link is up; afterwards it reconnects
   * by itself until `disconnect` or `close`. Rejects with a typed error if the peer refuses
   * (wrong secret, duplicate id, protocol version) or nothing answers within `timeout`.
   */
  async connect(url: string, options: ConnectOptions = {}): Promise<void> {
    this.assertOpen();
    if (this.dialers.get(url)?.done === false) throw new InvalidOptionError(`already connected to ${url}`);
    const dialOptions: DialOptions = { tls: options.tls, identity: options.identity };
    checkDialOptions(url, dialOptions);
    this.dialOptions.set(url, dialOptions);
    const dialer = new Dialer(this.host, url);
    this.dialers.set(url, dialer);
    try {
      await dialer.start(positive("timeout", options.timeout, 10000));
    } catch (error) {
      if (this.dialers.get(url) === dialer) this.dialers.delete(url);
      throw error;
    }
  }

  /**
   * Ends the link to a service (by id, or by the URL given to `connect`) for good: no more
   * reconnects, and what was still waiting for it is reported through `drop`.
   */
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

  /**
   * Publishes `data` on `topic`: to this service's subscribers and to every linked service
   * that subscribed to a matching pattern (or only to `options.to`). Returns false when a
   * link's resume window is past its high-water mark; wait for `drain` before publishing more.
   */
  publish<K extends keyof Topics & string>(topic: K, data: Topics[K], options?: PublishOptions): boolean {
    assertTopic(topic);
    return this.publishAny(topic, data, options);
  }

  /**
   * Calls `listener(data, meta)` for every message on a topic matching `pattern`
   * (`*` matches one token, a trailing `>` one or more). Returns a function that unsubscribes.
   */
  subscribe<P extends string>(pattern: P, listener: Listener<PatternData<Topics, P>, TopicsMatching<Topics, P>>): Unsubscribe {
    assertPattern(pattern);
    return this.subscribeAny(pattern, listener as AnyListener);
  }

  /** Removes one listener of a pattern, or all of them. */
  unsubscribe<P extends string>(pattern: P, listener?: Listener<PatternData<Topics, P>, TopicsMatching<Topics, P>>): void {
    assertPattern(pattern, true);
    if (this.local.remove(pattern, listener as AnyListener | undefined)) this.announce(FrameType.UNSUB, [pattern]);
  }

  /** Every peer this service has a session with, and the state of its link. */
  peers(): PeerInfo[] {
    return [...this.sessions.values()].map((s) => s.info());
  }

  /** True after `close`. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Ends every link (after giving peers up to `drainTimeout` to acknowledge what was
   * published) and every listener. Resolves when all is released.
   */
  close(options: CloseOptions = {}): Promise<void> {
    // Every call gets the same promise: the first call's options apply.
    this.closing ??= this.shutdown(options.drainTimeout ?? 2000);
    return this.closing;
  }

  private async shutdown(drainTimeout: number): Promise<void> {
    await this.drainWindows(drainTimeout);
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
    await Promise.all(this.listeners_.splice(0).map((l) => l.close()));
    for (const s of [...this.sessions.values()]) this.endSession(s, "disconnected");
    this.flushDrops();
    debug("%s closed", this.id);
  }

  /** The wider API for adapter packages; see `@sfn/channel-core/internal`. */
  get [INTERNAL](): InternalApi {
    return {
      publish: (topic, data, options) => {
        assertTopic(topic, true);
        return this.publishAny(topic, data, options);
      },
      subscribe: (pattern, listener) => {
        assertPattern(pattern, true);
        return this.subscribeAny(pattern, listener);
      },
      servers: (topic) => this.servers(topic),
      publishTo: (topic, data, options = {}) => {
        assertTopic(topic, true);
        if (!options.via) return { ok: this.publishAny(topic, data, { volatile: options.volatile }), unknown: [] };
        const known = new Set(this.servers(topic));
        const to = options.via.filter((v) => known.has(v));
        const unknown = options.via.filter((v) => !known.has(v));
        if (to.length === 0) return { ok: false, unknown };
        return { ok: this.publishAny(topic, data, { to, volatile: options.volatile }), unknown };
      },
      report: (error) => this.report(error),
    };
  }

  // ---- publishing -------------------------------------------------------------------------

  private servers(topic: string): string[] {
    const out = this.local.match(topic).length > 0 ? [this.id] : [];
    for (const s of this.sessions.values()) if (s.remote.matches(topic)) out.push(s.id);
    return out;
  }

  private publishAny(topic: string, data: unknown, options: PublishOptions = {}): boolean {
    this.assertOpen();
    const to = options.to === undefined ? undefined : new Set(typeof options.to === "string" ? [options.to] : options.to);
    // Encoded and checked before anything happens, whoever subscribes: a payload that could
    // never cross a link fails the same way with or without peers, and fails with no side effect.
    const body = encodeMessageBody(topic, data);
    if (body.length + SEQ_HEADER_MAX > this.host.maxFrameSize) {
      throw new PayloadError(`message on "${topic}" is ${body.length} bytes, over maxFrameSize (${this.host.maxFrameSize})`);
    }
    if ((options.local ?? true) && (!to || to.has(this.id))) this.deliver(topic, data, this.id);
    if (to) {
      for (const id of to) if (id !== this.id && !this.sessions.has(id)) this.drop(id, 1, "no-link");
    }
    let ok = true;
    for (const s of this.sessions.values()) {
      if ((to && !to.has(s.id)) || !s.remote.matches(topic)) continue;
      if (s.peerMaxFrameSize && body.length + SEQ_HEADER_MAX > s.peerMaxFrameSize) {
        this.drop(s.id, 1, "too-large");
        continue;
      }
      if (options.volatile) {
        if (!this.sendVolatile(s, body)) ok = false;
        continue;
      }
      if (s.messages >= this.windowMessages || s.bytes + body.length + SEQ_HEADER_MAX > this.windowBytes) {
        this.drop(s.id, 1, "window-full");
        ok = false;
        continue;
      }
      s.enqueue(FrameType.MSG, body);
      s.stats.sent++;
      if (!s.congested && (s.messages * 2 >= this.windowMessages || s.bytes * 2 >= this.windowBytes)) {
        s.congested = true;
        this.congested.add(s);
      }
      if (s.congested) ok = false;
      s.connection?.scheduleFlush();
    }
    return ok;
  }

  /**
   * Sends a volatile frame where the link is up and its socket has room: at once, or, behind
   * normal messages still queued this tick, right after them (order is kept). Elsewhere it is
   * dropped and reported, and `drain` follows once that link can be written again.
   */
  private sendVolatile(s: PeerSession, body: Buffer): boolean {
    const conn = s.connection;
    // Volatile frames wait in the connection's control queue until the next flush; within one
    // tick they may take half of it (limits.maxControlBytes), the rest stays for ACKs and PONGs.
    const size = body.length + SEQ_HEADER_MAX;
    const used = conn ? (this.volatileBytes.get(conn) ?? 0) : 0;
    if (!conn?.writable || used + size > this.host.maxControlBytes / 2) {
      this.drop(s.id, 1, "volatile");
      this.volatileBlocked.add(s);
      this.scheduleVolatileTick();
      return false;
    }
    this.volatileBytes.set(conn, used + size);
    const deferred = this.deferredVolatile.get(s);
    if (deferred) deferred.push(body);
    else if (s.allSent) {
      conn.sendRaw(encodeSequenced(FrameType.MSG, 0, body));
      s.stats.sent++;
    } else this.deferredVolatile.set(s, [body]);
    // Scheduled after the connection's flush (which the queued frames already scheduled).
    this.scheduleVolatileTick();
    return true;
  }

  private scheduleVolatileTick(): void {
    if (this.volatileTick) return;
    this.volatileTick = true;
    setImmediate(() => {
      this.volatileTick = false;
      this.volatileBytes.clear();
      this.sendDeferredVolatile();
      // Blocked only by this tick's budget: the socket may well have room again now.
      if (this.volatileBlocked.size > 0) this.maybeDrain(undefined);
    });
  }

  private sendDeferredVolatile(): void {
    if (this.deferredVolatile.size === 0) return;
    const all = [...this.deferredVolatile];
    this.deferredVolatile.clear();
    for (const [s, bodies] of all) {
      const conn = s.connection;
      if (conn?.writable && s.allSent && this.sessions.get(s.id) === s) {
        for (const body of bodies) conn.sendRaw(encodeSequenced(FrameType.MSG, 0, body));
        s.stats.sent += bodies.length;
      } else {
        // The queued window filled the socket (or the link went down) first.
        this.drop(s.id, bodies.length, "volatile");
        this.volatileBlocked.add(s);
      }
    }
  }

  private subscribeAny(pattern: string, listener: AnyListener): Unsubscribe {
    this.assertOpen();
    if (typeof listener !== "function") throw new InvalidOptionError("listener must be a function");
    if (this.local.add(pattern, listener)) this.announce(FrameType.SUB, [pattern]);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      if (this.local.remove(pattern, listener)) this.announce(FrameType.UNSUB, [pattern]);
    };
  }

  /** Tells every peer session about a subscription change (kept in the window, so it survives reconnects). */
  private announce(type: typeof FrameType.SUB | typeof FrameType.UNSUB, patterns: string[]): void {
    if (this.sessions.size === 0) return;
    const body = encodePatternsBody(patterns);
    for (const s of this.sessions.values()) {
      s.enqueue(type, body);
      s.connection?.scheduleFlush();
    }
  }

  private deliver(topic: string, data: unknown, from: string): void {
    const regs = this.local.match(topic);
    for (let i = 0; i < regs.length; i++) {
      const reg = regs[i]!;
      const meta: MessageMeta = { topic, from, pattern: reg.pattern };
      try {
        const result = reg.listener(data, meta);
        if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
          (result as PromiseLike<unknown>).then(undefined, (cause: unknown) => this.subscriberFailed(topic, cause));
        }
      } catch (cause) {
        this.subscriberFailed(topic, cause);
      }
    }
  }

  private subscriberFailed(topic: string, cause: unknown): void {
    const text = cause instanceof Error ? cause.message : String(cause);
    this.report(new SubscriberError(`subscriber of "${topic}" failed: ${text}`, topic, { cause }));
  }

  // ---- links ------------------------------------------------------------------------------

  private limits(): TransportLimits {
    return { maxFrameSize: this.host.maxFrameSize, openTimeout: this.host.handshakeTimeout, preAuthBytes: this.maxPreAuthBytes };
  }

  /** A peer at `remote` failed to prove the secret: count it, and ban the address after too many. */
  private authFailed(remote: string): void {
    // Dialled connections report their URL: failures of peers this side chose are not throttled.
    if (remote.includes("://")) return;
    const ban = this.authLimiter.failed(addressKey(remote), Date.now());
    if (!ban) return;
    debug("%s: %d failed authentications from %s, refusing it for %d ms", this.id, ban.failures, ban.address, ban.duration);
    this.report(
      new AuthThrottledError(
        `${ban.failures} failed authentications from ${ban.address}: its connections are refused for ${ban.duration} ms`,
        ban.address,
        ban.failures,
        ban.duration,
      ),
    );
  }

  private authSucceeded(remote: string): void {
    if (!remote.includes("://")) this.authLimiter.succeeded(addressKey(remote));
  }

  private async dial(url: string, dialer: Dialer): Promise<void> {
    const t = await this.transport.dial(url, this.limits(), this.dialOptions.get(url));
    if (this.closed || dialer.done) {
      t.terminate();
      return;
    }
    const conn = new Connection(this.host, t, "outbound", url);
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
      existing.connection = undefined;
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
    if (!existing && this.sessions.size >= this.maxPeers) {
      conn.fail(new LimitExceededError(`service "${this.id}" already has ${this.maxPeers} peers`, { peer: id }));
      return;
    }
    const s = existing ?? new PeerSession(id);
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
      s.acknowledge(ready.received);
      s.sentIndex = 0;
      s.stats.resent += s.messages;
      s.stats.resumes++;
    } else {
      const restarted = s.instance !== "" && s.instance !== ready.instance;
      const lost = s.reset(conn.key ?? null, ready.instance);
      if (lost > 0) this.drop(s.id, lost, restarted ? "peer-restarted" : "peer-gone");
      // The old session's window is gone, and with it this link's congestion.
      const wasCongested = this.congested.delete(s);
      s.congested = false;
      // The full subscription state opens every new session, even when empty: the peer
      // counts the link as up only once it knows what this side wants. Chunks stay below half
      // the peer's maxFrameSize (and 32 KiB), whatever the patterns' lengths.
      const chunkBytes = Math.min(32 * 1024, Math.floor(hello.maxFrameSize / 2));
      for (const chunk of chunkPatterns(this.local.patterns(), chunkBytes)) s.enqueue(FrameType.SUB, encodePatternsBody(chunk));
      s.initialSeq = s.lastSeq;
      if (wasCongested) this.maybeDrain(undefined, true);
    }
    clearTimeout(s.expiry);
    s.expiry = undefined;
    s.connection = conn;
    s.direction = conn.direction;
    s.url = conn.url;
    s.peerMaxFrameSize = hello.maxFrameSize;
    this.sessions.set(s.id, s);
    conn.open(s);
    s.pendingUp = { resumed };
    this.maybeUp(s);
  }

  /** Counts the link as up once both sides know each other's subscriptions. */
  private maybeUp(s: PeerSession): void {
    const up = s.pendingUp;
    if (!up || !s.ready) return;
    s.pendingUp = undefined;
    this.linkUp(s, up.resumed);
  }

  /** The link is usable: both sides know each other's subscriptions. */
  private linkUp(s: PeerSession, resumed: boolean): void {
    const conn = s.connection;
    if (!conn) return;
    debug("%s: link to %s up (%s, %s)", this.id, s.id, conn.direction, resumed ? "resumed" : "new session");
    this.dialerOf.get(conn)?.up(s.id);
    // A dialer whose own connection lost a simultaneous-dial tie-break is linked all the same.
    for (const d of this.dialers.values()) if (d.peer === s.id) d.up(s.id);
    this.emit("link:up", { peer: s.id, resumed, direction: conn.direction, url: conn.url });
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
        s.stats.received++;
        this.deliver(frame.topic, frame.data, s.id);
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
        if (!s.synced) {
          // The peer waits for this acknowledgement before it counts the link as up.
          s.synced = true;
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
    let what: string | undefined;
    if (r.size > this.maxRemoteSubscriptions) what = `more than ${this.maxRemoteSubscriptions} patterns (limits.maxRemoteSubscriptions)`;
    else if (r.wildcards > this.maxRemoteWildcards)
      what = `more than ${this.maxRemoteWildcards} wildcard patterns (limits.maxRemoteWildcards)`;
    else if (r.bytes > this.maxRemotePatternBytes)
      what = `patterns of more than ${this.maxRemotePatternBytes} bytes (limits.maxRemotePatternBytes)`;
    else {
      let total = 0;
      for (const other of this.sessions.values()) total += other.remote.bytes;
      if (total > this.maxTotalRemotePatternBytes)
        what = `patterns that take all peers past ${this.maxTotalRemotePatternBytes} bytes (limits.maxTotalRemotePatternBytes)`;
    }
    if (what) throw new LimitExceededError(`peer "${s.id}" subscribed to ${what}`, { peer: s.id });
  }

  /** Sequencing of received frames: false for a duplicate (already had it before a resume). */
  private accept(conn: Connection, s: PeerSession, seq: number): boolean {
    if (seq <= s.received) return false;
    if (seq > s.received + 1) this.drop(s.id, seq - s.received - 1, "gap");
    s.received = seq;
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
    if (error) this.report(error);
    const s = conn.session;
    if (s && s.connection === conn) {
      s.connection = undefined;
      debug("%s: link to %s down (%s)", this.id, s.id, reason);
      this.emit("link:down", { peer: s.id, reason, error });
      if (DISCONNECT_REASONS.has(reason)) this.endSession(s, "disconnected");
      else if (!this.closed) {
        s.expiry = setTimeout(() => this.endSession(s, "peer-gone"), this.resumeTimeout);
        s.expiry.unref();
      }
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
    clearTimeout(s.expiry);
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
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

  /** Resolves once no open link has unacknowledged frames (checked on every ACK and link loss), or after `timeout`. */
  private drainWindows(timeout: number): Promise<void> {
    if (!this.windowsBusy()) return Promise.resolve();
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

  private checkDrained(): void {
    if (this.drained && !this.windowsBusy()) this.drained();
  }

  // ---- reporting --------------------------------------------------------------------------

  /**
   * Emits `drain` once nothing that made `publish` return false holds any more: every window
   * below its low-water mark, and every link a volatile publish could not reach writable again
   * (or gone). `s`: the session that made progress; none: a socket emptied or a session ended.
   */
  private maybeDrain(s: PeerSession | undefined, changed = false): void {
    if (s && s.congested && s.messages * 4 < this.windowMessages && s.bytes * 4 < this.windowBytes) {
      s.congested = false;
      this.congested.delete(s);
      changed = true;
    }
    if (this.volatileBlocked.size > 0) {
      for (const b of s ? [s] : [...this.volatileBlocked]) {
        if (!this.volatileBlocked.has(b)) continue;
        if (this.sessions.get(b.id) !== b || b.connection?.writable) {
          this.volatileBlocked.delete(b);
          changed = true;
        }
      }
    }
    if (changed && this.congested.size === 0 && this.volatileBlocked.size === 0) this.emit("drain");
  }

  private drop(peer: string, count: number, reason: DropReason): void {
    this.sessions.get(peer)?.countDrop(reason, count);
    const key = `${reason}\u0000${peer}`;
    const pending = this.pendingDrops.get(key);
    if (pending) pending.count += count;
    else {
      if (this.pendingDrops.size === 0) setImmediate(() => this.flushDrops());
      this.pendingDrops.set(key, { peer, count, reason });
    }
  }

  private flushDrops(): void {
    const drops = this.pendingDrops;
    if (drops.size === 0) return;
    this.pendingDrops = new Map();
    for (const info of drops.values()) {
      debug("%s: dropped %d message(s) for %s (%s)", this.id, info.count, info.peer, info.reason);
      this.emit("drop", info);
    }
  }

  private report(error: ChannelError): void {
    if (this.listenerCount("error") > 0) {
      this.emit("error", error);
    } else if (error.code === ErrorCode.SUBSCRIBER || !CORE_CODES.has(error.code)) {
      // Errors of local code (subscribers, adapter calls) are never swallowed: without an
      // `error` listener they become process warnings. Errors a remote peer causes stay in
      // the debug log, so a hostile peer cannot flood stderr.
      process.emitWarning(error.message, { code: error.code, detail: String((error.cause as Error)?.stack ?? "") });
    } else {
      debug("%s: %s %s", this.id, error.code, error.message);
    }
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

/**
 * True if `value` is a {@link ChannelError} of any copy of this package: the ESM and the CJS
 * build in one process, or two installs, each have their own class, but the same brand
 * (`CHANNEL_ERROR_BRAND` in errors.ts, a `Symbol.for` key).
 */
export function isChannelError(value: unknown): value is ChannelError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[Symbol.for("sfn.channel.error")] === true;
}
