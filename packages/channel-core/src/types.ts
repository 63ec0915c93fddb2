import type { Server as HttpServer } from "node:http";
import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from "node:https";
import type { PeerCertificate, SecureContextOptions } from "node:tls";
import type { ChannelError } from "./errors.js";
import type { Router } from "./router.js";
import type { Transport } from "./transport/transport.js";

/** A map (interface or type) of topic → payload type; gives `publish` and `subscribe` compile-time checks. */
export type TopicMap = object;

/** The topic map of an untyped channel: any topic, payloads of unknown type. */
export type DefaultTopics = Record<string, unknown>;

/** Jittered exponential backoff between reconnect attempts. */
export interface ReconnectOptions {
  /** Delay before the first retry, in ms. @default 100 */
  initialDelay?: number;
  /** Longest delay between attempts, in ms. @default 5000 */
  maxDelay?: number;
  /** Growth factor per failed attempt. @default 2 */
  factor?: number;
  /** Fraction of each delay drawn at random (0 = none, 1 = full jitter). @default 0.5 */
  jitter?: number;
}

/** Bounds of the per-link resume window (frames sent but not yet acknowledged). */
export interface ResumeWindowOptions {
  /** Most unacknowledged messages kept per link. @default 65536 */
  maxMessages?: number;
  /** Most unacknowledged payload bytes kept per link. @default 16 MiB */
  maxBytes?: number;
  /** How long a down link's session (window, subscriptions) is kept for a resume, in ms. @default 30000 */
  resumeTimeout?: number;
}

/** Heartbeat settings; a link that hears nothing for `timeout` ms is closed and reconnected. */
export interface HeartbeatOptions {
  /** Idle time after which a PING is sent, in ms. @default 5000 */
  interval?: number;
  /** Silence after which the link is considered dead, in ms. @default 15000 */
  timeout?: number;
}

/** Limits on state a remote peer can make this process keep. */
export interface LimitOptions {
  /** Most subscription patterns one peer may register (also the most one SUB frame may carry). @default 10000 */
  maxRemoteSubscriptions?: number;
  /** Most wildcard patterns (with `*` or `>`) one peer may register. @default 1000 */
  maxRemoteWildcards?: number;
  /** Most bytes (UTF-8) of subscription patterns one peer may register. @default 4 MiB */
  maxRemotePatternBytes?: number;
  /**
   * Most bytes of subscription patterns all peers together may register; the peer whose
   * subscription would pass it is refused. Bounds the routing state whatever `maxPeers` is. @default 64 MiB
   */
  maxTotalRemotePatternBytes?: number;
  /** Most inbound connections in the middle of a handshake at once; a newcomer beyond it evicts the oldest. @default 256 */
  maxPendingHandshakes?: number;
  /** Most inbound connections from one address (IPv6: one /64) in the middle of a handshake; a newcomer beyond it evicts that address's oldest. @default 16 */
  maxPendingHandshakesPerAddress?: number;
  /** Time an inbound connection has to send its first frame (HELLO), in ms. @default min(handshakeTimeout, 3000) */
  helloTimeout?: number;
  /** Raw bytes a connection may send before its handshake completes (incomplete WebSocket messages included); more drops it. @default 64 KiB */
  maxPreAuthBytes?: number;
  /**
   * Failed handshakes from one address within `authFailureWindow` (accepted connections that end
   * with an error before the peer proved itself: wrong proofs, invalid frames, missed deadlines)
   * after which its connections are refused for a while. @default 10
   */
  maxAuthFailures?: number;
  /** Window over which failed handshakes are counted, in ms. @default 10000 */
  authFailureWindow?: number;
  /** First refusal period after too many failures, in ms; it doubles with each repeated ban, up to `maxAuthBan`. @default 1000 */
  authBan?: number;
  /** Longest refusal period, in ms. @default 60000 */
  maxAuthBan?: number;
  /** Most peer sessions (linked or awaiting a resume) at once; more are refused. @default 1024 */
  maxPeers?: number;
  /** Most bytes of control frames (ACK, PONG) queued for a peer that does not read. @default 1 MiB */
  maxControlBytes?: number;
}

/**
 * Options of the mesh router (the default): links, their handshake, resume windows and limits.
 * They are accepted on the channel's options too, where they build the default router.
 */
export interface MeshOptions {
  /**
   * Shared secret; when set, every peer must prove it knows the same secret. It must carry at
   * least 128 random bits: a `Uint8Array` of 16+ bytes, or a string of 22+ characters (e.g.
   * `randomBytes(32).toString("base64url")`); weaker values throw `InvalidOptionError`.
   * @default undefined
   */
  secret?: string | Uint8Array;
  /** Largest WebSocket message accepted from a peer, in bytes. @default 1 MiB */
  maxFrameSize?: number;
  /** Time allowed for a handshake, in ms. @default 10000 */
  handshakeTimeout?: number;
  /** Reconnect backoff of links this service dialled. */
  reconnect?: ReconnectOptions;
  /** Heartbeat settings. */
  heartbeat?: HeartbeatOptions;
  /** Resume window bounds. */
  window?: ResumeWindowOptions;
  /** Limits on peer-controlled state. */
  limits?: LimitOptions;
  /** The transport to use. @default the WebSocket transport */
  transport?: Transport;
}

/** Options of {@link MessageChannel}. */
export interface MessageChannelOptions extends MeshOptions {
  /** Unique id of this service in the mesh, e.g. `"web-server-1"`. */
  id: string;
  /**
   * Where messages go beyond this process. Mesh options on the channel build the default; with
   * a router of its own, they belong to that router and passing them here throws `InvalidOptionError`.
   * @default a mesh router (`new MeshRouter(options)`)
   */
  router?: Router;
}

/**
 * TLS settings of a listener: Node's `https.createServer` options (`key`, `cert`, `ca`,
 * `requestCert`, `minVersion`, ...). With `requestCert: true` and `ca`, it is mutual TLS: every
 * dialer must present a certificate signed by `ca`, and the service ids that certificate names
 * (see {@link peerIdsOf}) are the only ids that dialer may claim in its handshake.
 */
export type ListenTlsOptions = HttpsServerOptions;

/** TLS settings of a dialer (`wss://` URLs): Node's TLS client options. */
export interface ConnectTlsOptions extends SecureContextOptions {
  /** Server name for SNI and certificate checks. @default the URL's host */
  servername?: string;
  /** Refuse a server whose certificate does not verify against `ca` (or the system CAs). @default true */
  rejectUnauthorized?: boolean;
  /** Custom host name check of the server certificate. @default Node's `tls.checkServerIdentity` */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
}

/** Where to listen: an own port (plain or TLS), or a path on an existing HTTP(S) server. */
export type ListenOptions =
  | {
      /** TCP port; 0 picks a free one. */
      port: number;
      /** Interface to bind. @default "127.0.0.1" */
      host?: string;
      /** URL path peers connect to. @default "/" (any path) */
      path?: string;
      /** Serve `wss://` with these TLS settings. @default undefined (plain `ws://`) */
      tls?: ListenTlsOptions;
    }
  | {
      /** An existing HTTP or HTTPS server whose upgrade requests on `path` become links (an `https.Server` gives `wss://`). */
      server: HttpServer | HttpsServer;
      /** URL path peers connect to. @default "/sfn-channel" */
      path?: string;
    };

/**
 * Where a listener ended up. For a shared `http.Server` that is not listening yet, the fields
 * are read from it when accessed, so they fill in once it listens.
 */
export interface ListenAddress {
  /** Bound host (for a shared server: its address). */
  host: string;
  /** Bound port. */
  port: number;
  /** Path peers connect to. */
  path: string;
  /** URL other services pass to `connect`. */
  url: string;
}

/** Options of `connect`. */
export interface ConnectOptions {
  /** Give up on the first connection after this long, in ms (later reconnects never give up). @default 10000 */
  timeout?: number;
  /** TLS settings for a `wss://` URL (`ca`, `cert`, `key`, `servername`, ...). @default undefined (system CAs) */
  tls?: ConnectTlsOptions;
  /**
   * Require the server's certificate to name the peer's service id (see {@link peerIdsOf}): the
   * handshake refuses a peer whose HELLO id the certificate does not name. Needs a `wss://` URL.
   * @default false
   */
  identity?: boolean;
}

/** Options of `publish`. */
export interface PublishOptions {
  /** Only these service ids receive the message (the publisher's own subscribers only if listed). */
  to?: string | readonly string[];
  /**
   * Send only where a link is up and its socket has room; never kept for a resume, never
   * acknowledged. Where it cannot go it is dropped (reported as `volatile`) and `publish`
   * returns false until `drain`. @default false
   */
  volatile?: boolean;
  /** Deliver to this service's own subscribers too. @default true */
  local?: boolean;
}

/** What a subscriber learns about a message besides its payload. */
export interface MessageMeta<K extends string = string> {
  /** The concrete topic the message was published on. */
  topic: K;
  /** Id of the service that published it. */
  from: string;
  /** The subscription pattern that matched. */
  pattern: string;
  /**
   * Set by durable routers only (`@sfn/channel-nats` durable mode): the message's place in its
   * publisher's sequence. Stored with a listener's effect, it makes that effect exactly once
   * across crashes (see the durable mode's `handled` option).
   */
  position?: MessagePosition;
}

/** A durably stored message's place: the publishing instance and its sequence number there (1, 2, ...). */
export interface MessagePosition {
  /** Instance id of the publishing channel (a restart of the publisher is a new instance). */
  readonly publisher: string;
  /** The message's sequence number among that instance's durable publishes. */
  readonly seq: number;
}

/** A subscriber; may return a promise, whose rejection is reported like a throw. */
export type Listener<T = unknown, K extends string = string> = (data: T, meta: MessageMeta<K>) => unknown;

/** Removes the subscription it was returned for. */
export type Unsubscribe = () => void;

/** State of a link to a peer. */
export type LinkState = "up" | "down";

/** Why messages were not delivered, reported through the `drop` event. */
export type DropReason =
  /** The resume window was full. */
  | "window-full"
  /** A message exceeded the peer's maximum frame size. */
  | "too-large"
  /** The peer stayed away longer than the resume timeout. */
  | "peer-gone"
  /** The peer restarted, so its old subscriptions are gone. */
  | "peer-restarted"
  /** The link was ended with `disconnect`, `close` or by the peer. */
  | "disconnected"
  /** A volatile message met a down or backpressured link. */
  | "volatile"
  /** A targeted publish named a service with no link. */
  | "no-link"
  /** The receiver saw a gap in the sequence (the sender dropped these). */
  | "gap";

/** Payload of the `drop` event. */
export interface DropInfo {
  /** The peer the messages were for (or came from, for `gap`). */
  peer: string;
  /** How many messages. */
  count: number;
  /** Why. */
  reason: DropReason;
}

/** Why a link went down. */
export type LinkDownReason =
  | "closed"
  | "disconnected"
  | "peer-closed"
  | "peer-disconnected"
  | "heartbeat-timeout"
  | "stalled"
  | "superseded"
  | "transport"
  | "error";

/** Payload of the `link:up` event. */
export interface LinkUpInfo {
  /** Peer service id. */
  peer: string;
  /** True if the session resumed (nothing lost); false for a fresh session. */
  resumed: boolean;
  /** Who dialled. */
  direction: "inbound" | "outbound";
  /** URL dialled, for outbound links. */
  url: string | undefined;
}

/** Payload of the `link:down` event. */
export interface LinkDownInfo {
  /** Peer service id. */
  peer: string;
  /** Why. */
  reason: LinkDownReason;
  /** The error behind it, if any. */
  error: ChannelError | undefined;
}

/** Snapshot of one peer, as returned by `peers()`. */
export interface PeerInfo {
  /** Peer service id. */
  id: string;
  /** Link state. */
  state: LinkState;
  /** Who dialled the current (or last) connection. */
  direction: "inbound" | "outbound";
  /** URL dialled, for outbound links. */
  url: string | undefined;
  /** Patterns the peer subscribed to. */
  subscriptions: number;
  /** Messages sent and awaiting acknowledgement, or waiting for the link. */
  pendingMessages: number;
  /** Bytes of those messages. */
  pendingBytes: number;
  /** Messages handed to this link. */
  sent: number;
  /** Messages received on this link. */
  received: number;
  /** Messages resent after a reconnect. */
  resent: number;
  /** Messages dropped for this peer, by reason. */
  dropped: Partial<Record<DropReason, number>>;
  /** Times the session resumed after a reconnect. */
  resumes: number;
}

/** Payload of the `broker:up` and `broker:down` events (routers over a broker, such as NATS). */
export interface BrokerInfo {
  /** The broker server the connection was (or now is) on, if known. */
  server: string | undefined;
}

/** Events of {@link MessageChannel}. */
export interface MessageChannelEvents {
  /** A link finished its handshake. */
  "link:up": [info: LinkUpInfo];
  /** A link went down (it may come back). */
  "link:down": [info: LinkDownInfo];
  /** Something went wrong that did not throw at a call site: a refused peer, a bad frame, a throwing subscriber. */
  error: [error: ChannelError];
  /** Messages could not be delivered. */
  drop: [info: DropInfo];
  /** Every link is below its high-water mark again after `publish` returned false. */
  drain: [];
  /** A broker router lost its connection to the broker; what is published meanwhile waits in its window. */
  "broker:down": [info: BrokerInfo];
  /** A broker router's connection is back (after a `broker:down`). */
  "broker:up": [info: BrokerInfo];
}
