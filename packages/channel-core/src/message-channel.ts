import { EventEmitter } from "node:events";
import createDebug from "debug";
import { createInstanceId } from "./auth.js";
import { type ChannelError, ClosedError, ErrorCode, InvalidOptionError, SubscriberError } from "./errors.js";
import { LocalSubscriptions } from "./interest.js";
import { knownKeys, stringList } from "./arguments.js";
import { MESH_OPTION_KEYS } from "./mesh-options.js";
import { MeshRouter } from "./mesh-router.js";
import { encodeMessageBody } from "./protocol/codec.js";
import { assertPattern, assertTopic } from "./protocol/topic.js";
import { type LinkingRouter, type RoutePublishOptions, type Router, type RouterHost, isLinkingRouter } from "./router.js";
import type {
  ConnectOptions,
  DefaultTopics,
  DropInfo,
  DropReason,
  LinkDownInfo,
  ListenAddress,
  ListenOptions,
  Listener,
  MessageChannelEvents,
  MessageChannelOptions,
  MessageMeta,
  MessagePosition,
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
  /** Calls `listener` on every `link:down`; returns a function that stops it. */
  onLinkDown(listener: (info: LinkDownInfo) => void): () => void;
  /**
   * Calls `listener` once, when `close` is first called (before the links drain), or at once if
   * the channel is already closing; returns a function that stops it. Adapters end what they
   * serve there (an SSE front end its streams); a listener must not throw.
   */
  onClose(listener: () => void): () => void;
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

/** Route options of a plain publish: every subscriber, kept in the resume window. */
const TO_EVERY_SUBSCRIBER: RoutePublishOptions = Object.freeze({});

const CORE_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

const CHANNEL_OPTION_KEYS: readonly string[] = ["id", "router", ...MESH_OPTION_KEYS];

/** `publish`'s `to`: a service id or several, as a set; anything else throws `InvalidOptionError`. */
function recipients(to: unknown): Set<string> {
  const ids = stringList(to);
  if (!ids) throw new InvalidOptionError("to must be a service id or an array of service ids (strings)");
  return new Set(ids);
}

/** A channel given a router of its own takes no mesh options: they would be silently ignored. */
function routerOf(options: MessageChannelOptions): Router {
  knownKeys("the channel's options", options, CHANNEL_OPTION_KEYS);
  if (options.router === undefined) return new MeshRouter(options);
  const stray = MESH_OPTION_KEYS.filter((k) => options[k] !== undefined);
  if (stray.length > 0) {
    throw new InvalidOptionError(`${stray.join(", ")}: options of the mesh router, not of a channel with a router of its own`);
  }
  return options.router;
}

/**
 * A service's end of the mesh: a unique id, links to other services, and topic-based
 * publish/subscribe across them. Messages reach local subscribers and every linked
 * service that subscribed to a matching topic; each link keeps a resume window so a short
 * failure loses and duplicates nothing. Where messages go beyond this process is its
 * router's business (`options.router`; the mesh by default).
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

  private readonly router: Router;
  private readonly local = new LocalSubscriptions<AnyListener>();
  private pendingDrops = new Map<string, DropInfo>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly closeListeners = new Set<() => void>();

  constructor(options: MessageChannelOptions) {
    super();
    if (typeof options?.id !== "string" || options.id.length === 0 || options.id.length > 256) {
      throw new InvalidOptionError("id must be a non-empty string of at most 256 characters");
    }
    this.id = options.id;
    this.router = routerOf(options);
    const host: RouterHost = {
      id: this.id,
      instance: this.instance,
      deliver: (topic, data, from, pattern, position) => this.deliver(topic, data, from, pattern, position),
      patterns: () => this.local.patterns(),
      linkUp: (info) => this.emit("link:up", info),
      linkDown: (info) => this.emit("link:down", info),
      drop: (peer, count, reason) => this.drop(peer, count, reason),
      drained: () => this.emit("drain"),
      report: (error) => this.report(error),
      broker: (state, info) => this.emit(state === "up" ? "broker:up" : "broker:down", info),
    };
    this.router.attach(host);
  }

  /** Resolves once the router can route: at once for the mesh; a broker's router once connected and known. */
  ready(): Promise<void> {
    return this.router.ready();
  }

  /**
   * Accepts links: on an own port (`{ port, host }`, port 0 picks one) or on a path of an
   * existing `http.Server` (`{ server, path }`). Resolves with the URL peers connect to.
   */
  async listen(options: ListenOptions): Promise<ListenAddress> {
    this.assertOpen();
    return this.linking("listen").listen(options);
  }

  /**
   * Links to the service at `url`. Resolves once the link is up; afterwards it reconnects
   * by itself until `disconnect` or `close`. Rejects with a typed error if the peer refuses
   * (wrong secret, duplicate id, protocol version) or nothing answers within `timeout`.
   */
  async connect(url: string, options: ConnectOptions = {}): Promise<void> {
    this.assertOpen();
    return this.linking("connect").connect(url, options);
  }

  /**
   * Ends the link to a service (by id, or by the URL given to `connect`) for good: no more
   * reconnects, and what was still waiting for it is reported through `drop`.
   */
  async disconnect(idOrUrl: string): Promise<void> {
    return this.linking("disconnect").disconnect(idOrUrl);
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
    if (this.local.remove(pattern, listener as AnyListener | undefined)) this.router.interest("unsub", pattern);
  }

  /** Every peer this service has a session with, and the state of its link. */
  peers(): PeerInfo[] {
    return this.router.peers();
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
    try {
      knownKeys("close's options", options, ["drainTimeout"]);
      const t = options.drainTimeout;
      if (t !== undefined && !(Number.isFinite(t) && t >= 0)) {
        throw new InvalidOptionError(`drainTimeout must be a number of ms, 0 or more (got ${String(t)})`);
      }
    } catch (error) {
      // Nothing is closed: a bad argument is refused like any other.
      return Promise.reject(error);
    }
    // Every call gets the same promise: the first call's options apply.
    if (this.closing === undefined) {
      // Adapters stop serving first (their listeners may still unsubscribe: the channel is open).
      for (const listener of [...this.closeListeners]) listener();
      this.closeListeners.clear();
      this.closing = this.shutdown(options.drainTimeout ?? 2000);
    }
    return this.closing;
  }

  private async shutdown(drainTimeout: number): Promise<void> {
    await this.router.drain(drainTimeout);
    this.closed = true;
    await this.router.close();
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
      onLinkDown: (listener) => {
        this.on("link:down", listener);
        return () => void this.off("link:down", listener);
      },
      onClose: (listener) => {
        if (this.closing !== undefined) {
          listener();
          return () => {};
        }
        this.closeListeners.add(listener);
        return () => void this.closeListeners.delete(listener);
      },
    };
  }

  private linking(method: "listen" | "connect" | "disconnect"): LinkingRouter {
    if (!isLinkingRouter(this.router)) {
      throw new InvalidOptionError(`${method}: this channel's router does not link services by URL (only the mesh router does)`);
    }
    return this.router;
  }

  // ---- publishing -------------------------------------------------------------------------

  private servers(topic: string): string[] {
    const out = this.local.match(topic).length > 0 ? [this.id] : [];
    for (const id of this.router.servers(topic)) if (id !== this.id) out.push(id);
    return out;
  }

  private publishAny(topic: string, data: unknown, options?: PublishOptions): boolean {
    this.assertOpen();
    // Encoded and checked before anything happens, whoever subscribes: a payload the router
    // could never send fails the same way with or without peers, and with no side effect.
    if (options === undefined) {
      // The common call, without an object per message.
      const body = this.router.encode ? this.router.encode(topic, data, TO_EVERY_SUBSCRIBER) : encodeMessageBody(topic, data);
      this.router.checkPayload(topic, body);
      // Handed to the router first: if it refuses (closed), no listener ran; and a durable
      // router has given the message its place, which local listeners see too.
      const sent = this.router.publish(topic, body, TO_EVERY_SUBSCRIBER);
      this.deliver(topic, data, this.id, undefined, this.router.position?.());
      return sent;
    }
    checkPublishOptions(options);
    const to = options.to === undefined ? undefined : recipients(options.to);
    const local = (options.local ?? true) && (!to || to.has(this.id));
    to?.delete(this.id);
    const route = to === undefined && !options.volatile ? TO_EVERY_SUBSCRIBER : { to, volatile: options.volatile };
    const body = this.router.encode ? this.router.encode(topic, data, route) : encodeMessageBody(topic, data);
    this.router.checkPayload(topic, body);
    const sent = this.router.publish(topic, body, route);
    if (local) this.deliver(topic, data, this.id, undefined, this.router.position?.());
    return sent;
  }

  private subscribeAny(pattern: string, listener: AnyListener): Unsubscribe {
    this.assertOpen();
    if (typeof listener !== "function") throw new InvalidOptionError("listener must be a function");
    if (this.local.add(pattern, listener)) this.router.interest("sub", pattern);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      if (this.local.remove(pattern, listener)) this.router.interest("unsub", pattern);
    };
  }

  private deliver(topic: string, data: unknown, from: string, only?: string, position?: MessagePosition): void {
    const regs = this.local.match(topic);
    for (let i = 0; i < regs.length; i++) {
      const reg = regs[i]!;
      if (only !== undefined && reg.pattern !== only) continue;
      const meta: MessageMeta = { topic, from, pattern: reg.pattern };
      if (position !== undefined) meta.position = position;
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

  // ---- reporting --------------------------------------------------------------------------

  private drop(peer: string, count: number, reason: DropReason): void {
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

const PUBLISH_OPTION_KEYS = ["to", "volatile", "local"];

/** Refuses publish options no publish could honour: unknown keys, flags that are not booleans. */
function checkPublishOptions(options: PublishOptions): void {
  knownKeys("publish's options", options, PUBLISH_OPTION_KEYS);
  for (const flag of ["volatile", "local"] as const) {
    const v = options[flag];
    if (v !== undefined && typeof v !== "boolean")
      throw new InvalidOptionError(`publish's ${flag} must be a boolean (got ${JSON.stringify(v)})`);
  }
}

/**
 * True if `value` is a {@link ChannelError} of any copy of this package: the ESM and the CJS
 * build in one process, or two installs, each have their own class, but the same brand
 * (`CHANNEL_ERROR_BRAND` in errors.ts, a `Symbol.for` key).
 */
export function isChannelError(value: unknown): value is ChannelError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[Symbol.for("sfn.channel.error")] === true;
}
