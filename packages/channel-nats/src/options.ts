import type { ConnectionOptions } from "@nats-io/transport-node";
import { type ConnectOptions, InvalidOptionError, type MeshOptions } from "@sfn/channel-core";
import { knownKeys } from "@sfn/channel-core/internal";
import type { BrokerWindowOptions } from "./broker-window.js";
import type { NatsDurableOptions } from "./durable.js";
import type { NatsHeartbeatOptions } from "./nats-router.js";

/**
 * Options of the mesh router (and of the mesh's `connect`) that nats.js does not have: given to
 * `nats()`, they would be passed on to nats.js and ignored there (a `secret` would then protect
 * nothing). The type proves each is a mesh option and none is a nats.js connection option, so a
 * nats.js release that adds one fails to compile here instead of being refused. Not here:
 * `reconnect` (a nats.js option), `heartbeat` and `window` (options of this router too).
 */
export const MESH_ONLY_KEYS = [
  "secret",
  "maxFrameSize",
  "handshakeTimeout",
  "limits",
  "transport",
  "identity",
] as const satisfies readonly Exclude<keyof MeshOptions | keyof ConnectOptions, keyof ConnectionOptions>[];

// The keys of the router's own nested options, each list exactly its type's keys (the compiler checks both ways).
const HEARTBEAT_KEYS: Record<keyof NatsHeartbeatOptions, true> = { interval: true, missedBeats: true };
const WINDOW_KEYS: Record<keyof BrokerWindowOptions | "maxAge", true> = { maxMessages: true, maxBytes: true, maxAge: true };
const DURABLE_KEYS: Record<keyof NatsDurableOptions, true> = {
  stream: true,
  replicas: true,
  setup: true,
  resumeTimeout: true,
  ackWait: true,
  maxAckPending: true,
  publishTimeout: true,
  maxInFlight: true,
  gapTimeout: true,
  handled: true,
};

/**
 * Throws `InvalidOptionError` (`ERR_INVALID_OPTION`) for options of `nats()` that would be
 * ignored in silence: the mesh router's own options (which nats.js does not have), and an unknown
 * key inside this router's nested options (`heartbeat`, `window`, `durable`). Other top-level
 * keys go to nats.js unchecked: its options are open-ended and differ between its versions.
 */
export function checkRouterOptions(options: unknown): void {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new InvalidOptionError("the NATS router's options must be an object");
  }
  const given = options as Record<string, unknown>;
  const mesh = MESH_ONLY_KEYS.filter((k) => given[k] !== undefined);
  if (mesh.length > 0) {
    const names = mesh.map((k) => `"${k}"`).join(", ");
    const hint = mesh.includes("secret") ? ": NATS authenticates (nats.js's user/pass, token, authenticator, tls)" : "";
    throw new InvalidOptionError(
      `${names} ${mesh.length > 1 ? "are mesh options that do" : "is a mesh option that does"} not apply to the NATS router${hint}`,
    );
  }
  // nats.js's `reconnect` is a boolean; the mesh's backoff object would be taken as `true`.
  if (given.reconnect !== undefined && typeof given.reconnect !== "boolean") {
    throw new InvalidOptionError(
      "reconnect is nats.js's on/off switch here (a boolean); its timing is reconnectTimeWait, maxReconnectAttempts and reconnectJitter",
    );
  }
  nested("heartbeat", given.heartbeat, HEARTBEAT_KEYS);
  nested("window", given.window, WINDOW_KEYS);
  if (typeof given.durable !== "boolean") nested("durable", given.durable, DURABLE_KEYS, "true, false or an object");
}

function nested(name: string, value: unknown, keys: Record<string, true>, what = "an object"): void {
  if (value !== undefined && (value === null || typeof value !== "object" || Array.isArray(value))) {
    throw new InvalidOptionError(`${name} must be ${what}`);
  }
  knownKeys(name, value, Object.keys(keys));
}
