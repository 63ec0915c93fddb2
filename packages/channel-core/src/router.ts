import type { ChannelError } from "./errors.js";
import type {
  BrokerInfo,
  MessagePosition,
  ConnectOptions,
  DropReason,
  LinkDownInfo,
  LinkUpInfo,
  ListenAddress,
  ListenOptions,
  PeerInfo,
} from "./types.js";

/**
 * What a {@link Router} may call on the channel it serves. The channel keeps local delivery,
 * events and drop batching; the router only tells it what happened.
 */
export interface RouterHost {
  /** The channel's service id. */
  readonly id: string;
  /** The channel's instance id (a restart changes it). */
  readonly instance: string;
  /**
   * Hands a message that arrived from `from` to local listeners: of every matching pattern, or,
   * with `pattern`, of that pattern only (for a router whose transport delivers once per pattern).
   * A durable router passes the message's `position` (listeners see it as `meta.position`).
   */
  deliver(topic: string, data: unknown, from: string, pattern?: string, position?: MessagePosition): void;
  /** The patterns this channel has listeners for: the initial interest of a new session or connection. */
  patterns(): readonly string[];
  /** A peer became reachable. */
  linkUp(info: LinkUpInfo): void;
  /** A peer stopped being reachable (it may come back). */
  linkDown(info: LinkDownInfo): void;
  /** Messages could not be delivered; batched into `drop` events by the channel. */
  drop(peer: string, count: number, reason: DropReason): void;
  /** Nothing that made `publish` return false holds any more. */
  drained(): void;
  /** An error that did not throw at a call site. */
  report(error: ChannelError): void;
  /** A broker router's connection went down ("down") or is back ("up"); the mesh never calls it. */
  broker(state: "up" | "down", info: BrokerInfo): void;
}

/** Options of {@link Router.publish}. */
export interface RoutePublishOptions {
  /** Only these services (this one already removed by the channel); absent: every interested one. */
  readonly to?: ReadonlySet<string>;
  /** Send only where it can go now; never kept for a later resend. */
  readonly volatile?: boolean;
}

/**
 * Where a channel's messages go beyond this process: the mesh of direct links
 * ({@link MeshRouter}, the default) or a broker. One router serves one channel.
 *
 * The channel validates topics, delivers locally and emits events; the router moves encoded
 * messages (`encodeMessageBody`, or the router's own `encode`) between services and reports
 * what it could not deliver.
 */
export interface Router {
  /** Called once, from the channel's constructor; a router serves exactly one channel. */
  attach(host: RouterHost): void;
  /** Resolves once the router can route (the mesh: at once). */
  ready(): Promise<void>;
  /** The channel gained its first listener of `pattern` ("sub") or lost its last one ("unsub"). */
  interest(change: "sub" | "unsub", pattern: string): void;
  /**
   * Encodes a message the way this router sends it (for a broker router: with its own framing,
   * in one buffer); what it returns is the `body` given to `checkPayload` and `publish`. Throws
   * a `PayloadError` for data that cannot be encoded. Absent: `encodeMessageBody(topic, data)`.
   */
  encode?(topic: string, data: unknown, options: RoutePublishOptions): Buffer;
  /**
   * Throws a `PayloadError` if a message of `body` (from `encode`, or `encodeMessageBody`) can
   * never be sent; called before any side effect of a publish, local delivery included.
   */
  checkPayload(topic: string, body: Buffer): void;
  /** Sends a message to remote services. False: backpressure, wait for `drained`. */
  publish(topic: string, body: Buffer, options: RoutePublishOptions): boolean;
  /**
   * Durable routers: the place the message just given to `publish` took in its publisher's
   * sequence, if it took one (local listeners see it as `meta.position`, as remote ones do).
   * Called right after `publish`.
   */
  position?(): MessagePosition | undefined;
  /** Remote services subscribed to `topic` (never this one). */
  servers(topic: string): string[];
  /** Every peer known to this router, and the state of its link. */
  peers(): PeerInfo[];
  /** Waits up to `timeout` ms for peers to take what was already published. */
  drain(timeout: number): Promise<void>;
  /** Releases everything; what could not be delivered is reported through `drop`. */
  close(): Promise<void>;
}

/** A router that links services to each other by URL (the mesh): the channel's `listen`, `connect` and `disconnect`. */
export interface LinkingRouter extends Router {
  /** See `MessageChannel.listen`. */
  listen(options: ListenOptions): Promise<ListenAddress>;
  /** See `MessageChannel.connect`. */
  connect(url: string, options: ConnectOptions): Promise<void>;
  /** See `MessageChannel.disconnect`. */
  disconnect(idOrUrl: string): Promise<void>;
}

/** True if `router` links services by URL. */
export function isLinkingRouter(router: Router): router is LinkingRouter {
  const r = router as Partial<LinkingRouter>;
  return typeof r.listen === "function" && typeof r.connect === "function" && typeof r.disconnect === "function";
}
