import { AuthLimiter, PendingHandshakes, toSecret } from "./admission.js";
import { knownKeys } from "./arguments.js";
import { DEFAULT_BACKOFF, type Backoff } from "./backoff.js";
import { InvalidOptionError } from "./errors.js";
import type { DecodeLimits } from "./protocol/codec.js";
import { WsTransport } from "./transport/ws-transport.js";
import type { Transport } from "./transport/transport.js";
import type { MeshOptions } from "./types.js";

/** Keys of {@link MeshOptions}: on a channel with a router of its own they are refused, not ignored. */
export const MESH_OPTION_KEYS = [
  "secret",
  "maxFrameSize",
  "handshakeTimeout",
  "reconnect",
  "heartbeat",
  "window",
  "limits",
  "transport",
] as const satisfies readonly (keyof MeshOptions)[];

/** A positive number option, or its default; anything else throws `InvalidOptionError`. */
export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(`${name} must be a positive number`);
  return value;
}

const NESTED_KEYS = {
  reconnect: ["initialDelay", "maxDelay", "factor", "jitter"],
  heartbeat: ["interval", "timeout"],
  window: ["maxMessages", "maxBytes", "resumeTimeout"],
  limits: [
    "maxRemoteSubscriptions",
    "maxRemoteWildcards",
    "maxRemotePatternBytes",
    "maxTotalRemotePatternBytes",
    "maxPendingHandshakes",
    "maxPendingHandshakesPerAddress",
    "helloTimeout",
    "maxPreAuthBytes",
    "maxAuthFailures",
    "authFailureWindow",
    "authBan",
    "maxAuthBan",
    "maxPeers",
    "maxControlBytes",
  ],
} as const satisfies {
  reconnect: readonly (keyof NonNullable<MeshOptions["reconnect"]>)[];
  heartbeat: readonly (keyof NonNullable<MeshOptions["heartbeat"]>)[];
  window: readonly (keyof NonNullable<MeshOptions["window"]>)[];
  limits: readonly (keyof NonNullable<MeshOptions["limits"]>)[];
};

/** {@link MeshOptions} checked, with every default filled in. */
export interface MeshConfig {
  readonly transport: Transport;
  readonly secret: Uint8Array | undefined;
  readonly maxFrameSize: number;
  readonly handshakeTimeout: number;
  readonly heartbeatInterval: number;
  readonly heartbeatTimeout: number;
  readonly windowMessages: number;
  readonly windowBytes: number;
  readonly resumeTimeout: number;
  readonly maxRemoteSubscriptions: number;
  readonly maxRemoteWildcards: number;
  readonly maxRemotePatternBytes: number;
  readonly maxTotalRemotePatternBytes: number;
  readonly maxPeers: number;
  readonly maxControlBytes: number;
  readonly helloTimeout: number;
  readonly maxPreAuthBytes: number;
  readonly backoff: Backoff;
  readonly decodeLimits: DecodeLimits;
  readonly pendingHandshakes: PendingHandshakes<{ readonly pending: boolean; evict(): void }>;
  readonly authLimiter: AuthLimiter;
}

/** Checks mesh options (throwing `InvalidOptionError`) and fills in the defaults. */
export function meshConfig(options: MeshOptions): MeshConfig {
  for (const [name, keys] of Object.entries(NESTED_KEYS)) knownKeys(name, options[name as keyof typeof NESTED_KEYS], keys);
  const hb = options.heartbeat ?? {};
  const heartbeatInterval = positive("heartbeat.interval", hb.interval, 5000);
  const heartbeatTimeout = positive("heartbeat.timeout", hb.timeout, Math.max(15000, heartbeatInterval * 3));
  if (heartbeatTimeout <= heartbeatInterval) throw new InvalidOptionError("heartbeat.timeout must exceed heartbeat.interval");
  const w = options.window ?? {};
  const limits = options.limits ?? {};
  const maxRemoteSubscriptions = positive("limits.maxRemoteSubscriptions", limits.maxRemoteSubscriptions, 10000);
  const pendingHandshakes = new PendingHandshakes<{ readonly pending: boolean; evict(): void }>(
    positive("limits.maxPendingHandshakes", limits.maxPendingHandshakes, 256),
    positive("limits.maxPendingHandshakesPerAddress", limits.maxPendingHandshakesPerAddress, 16),
  );
  const handshakeTimeout = positive("handshakeTimeout", options.handshakeTimeout, 10000);
  const authBan = positive("limits.authBan", limits.authBan, 1000);
  const authLimiter = new AuthLimiter({
    maxFailures: positive("limits.maxAuthFailures", limits.maxAuthFailures, 10),
    window: positive("limits.authFailureWindow", limits.authFailureWindow, 10000),
    ban: authBan,
    maxBan: Math.max(authBan, positive("limits.maxAuthBan", limits.maxAuthBan, 60000)),
  });
  const backoff: Backoff = { ...DEFAULT_BACKOFF, ...options.reconnect };
  positive("reconnect.initialDelay", backoff.initialDelay, 1);
  positive("reconnect.maxDelay", backoff.maxDelay, 1);
  if (typeof backoff.jitter !== "number" || !(backoff.jitter >= 0 && backoff.jitter <= 1)) {
    throw new InvalidOptionError("reconnect.jitter must be between 0 and 1");
  }
  if (typeof backoff.factor !== "number" || !Number.isFinite(backoff.factor) || backoff.factor < 1) {
    throw new InvalidOptionError("reconnect.factor must be a number of at least 1 (each retry waits at least as long as the last)");
  }
  return {
    transport: options.transport ?? new WsTransport(),
    secret: toSecret(options.secret),
    maxFrameSize: positive("maxFrameSize", options.maxFrameSize, 1024 * 1024),
    handshakeTimeout,
    heartbeatInterval,
    heartbeatTimeout,
    windowMessages: positive("window.maxMessages", w.maxMessages, 65536),
    windowBytes: positive("window.maxBytes", w.maxBytes, 16 * 1024 * 1024),
    resumeTimeout: positive("window.resumeTimeout", w.resumeTimeout, 30000),
    maxRemoteSubscriptions,
    maxRemoteWildcards: positive("limits.maxRemoteWildcards", limits.maxRemoteWildcards, 1000),
    maxRemotePatternBytes: positive("limits.maxRemotePatternBytes", limits.maxRemotePatternBytes, 4 * 1024 * 1024),
    maxTotalRemotePatternBytes: positive("limits.maxTotalRemotePatternBytes", limits.maxTotalRemotePatternBytes, 64 * 1024 * 1024),
    maxPeers: positive("limits.maxPeers", limits.maxPeers, 1024),
    maxControlBytes: positive("limits.maxControlBytes", limits.maxControlBytes, 1024 * 1024),
    helloTimeout: positive("limits.helloTimeout", limits.helloTimeout, Math.min(handshakeTimeout, 3000)),
    maxPreAuthBytes: positive("limits.maxPreAuthBytes", limits.maxPreAuthBytes, 64 * 1024),
    backoff,
    decodeLimits: { maxPatternsPerFrame: maxRemoteSubscriptions },
    pendingHandshakes,
    authLimiter,
  };
}
