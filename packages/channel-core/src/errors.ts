/**
 * Stable error codes. Callers branch on `error.code`, never on message text.
 */
export const ErrorCode = {
  /** The peer's proof of the shared secret did not match. */
  AUTH_FAILED: "ERR_AUTH_FAILED",
  /** One side requires a shared secret and the other presented none. */
  AUTH_REQUIRED: "ERR_AUTH_REQUIRED",
  /** An address failed to authenticate too often; its connections are refused for a while. */
  AUTH_THROTTLED: "ERR_AUTH_THROTTLED",
  /** The service id a peer claimed is not one its verified TLS certificate names (mutual TLS). */
  IDENTITY: "ERR_IDENTITY",
  /** Another live service already uses this id. */
  DUPLICATE_ID: "ERR_DUPLICATE_ID",
  /** The peer speaks a protocol version this one cannot. */
  PROTOCOL_VERSION: "ERR_PROTOCOL_VERSION",
  /** The peer sent bytes that are not a valid frame, or a frame out of place. */
  MALFORMED_FRAME: "ERR_MALFORMED_FRAME",
  /** The peer sent a frame type this version does not know. */
  UNKNOWN_FRAME: "ERR_UNKNOWN_FRAME",
  /** A frame exceeded the configured maximum size. */
  FRAME_TOO_LARGE: "ERR_FRAME_TOO_LARGE",
  /** The handshake did not complete in time. */
  HANDSHAKE_TIMEOUT: "ERR_HANDSHAKE_TIMEOUT",
  /** A peer made per-link state grow past its limit. */
  LIMIT_EXCEEDED: "ERR_LIMIT_EXCEEDED",
  /** A peer stopped acknowledging what it was sent (it does not read). */
  SLOW_PEER: "ERR_SLOW_PEER",
  /** A topic or pattern is not valid, or uses the reserved prefix. */
  INVALID_TOPIC: "ERR_INVALID_TOPIC",
  /** A payload could not be encoded or decoded. */
  PAYLOAD: "ERR_PAYLOAD",
  /** A subscriber threw or rejected. */
  SUBSCRIBER: "ERR_SUBSCRIBER",
  /** A connection attempt failed or timed out. */
  CONNECT: "ERR_CONNECT",
  /** The channel is closed. */
  CLOSED: "ERR_CLOSED",
  /** An option has an invalid value. */
  INVALID_OPTION: "ERR_INVALID_OPTION",
  /** The underlying transport failed. */
  TRANSPORT: "ERR_TRANSPORT",
} as const;

/** One of the stable error codes in {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options accepted by every channel error. */
export interface ChannelErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** The id of the peer service involved, if known. */
  peer?: string;
}

/**
 * Marks every {@link ChannelError}, whichever copy of this package made it. The ESM and the CJS
 * build (or two installed copies) each have their own `ChannelError` class, so a prototype
 * check fails across them (the dual-package hazard); a `Symbol.for` key is the same everywhere.
 * `isChannelError` checks it; keep the key as it is, older and newer copies rely on it.
 */
export const CHANNEL_ERROR_BRAND: unique symbol = Symbol.for("sfn.channel.error") as never;

/**
 * Base class of every error this package and the adapters raise. `code` is one of
 * {@link ErrorCode} here; adapter packages add their own `ERR_*` codes.
 *
 * `error instanceof ChannelError` holds for a channel error of any copy of this package (it
 * checks {@link CHANNEL_ERROR_BRAND}); `instanceof` a subclass stays an ordinary prototype check.
 */
export class ChannelError extends Error {
  /** Recognises channel errors of every copy of this package, not only of this one. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class right of `instanceof`: a subclass keeps the prototype check.
    if (this !== ChannelError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && (value as { [CHANNEL_ERROR_BRAND]?: unknown })[CHANNEL_ERROR_BRAND] === true;
  }

  /** Stable machine-readable code. */
  readonly code: ErrorCode | (string & {});
  /** The peer service involved, if known. */
  readonly peer: string | undefined;

  constructor(code: ErrorCode | (string & {}), message: string, options: ChannelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ChannelError";
    this.code = code;
    this.peer = options.peer;
  }
}

// On the prototype, not enumerable: every subclass instance carries it, and no copy, spread or
// JSON of an error shows it.
Object.defineProperty(ChannelError.prototype, CHANNEL_ERROR_BRAND, { value: true });

/** Authentication failed: wrong secret, or a secret required by one side only. */
export class AuthError extends ChannelError {
  constructor(
    code: typeof ErrorCode.AUTH_FAILED | typeof ErrorCode.AUTH_REQUIRED | typeof ErrorCode.AUTH_THROTTLED | typeof ErrorCode.IDENTITY,
    message: string,
    options?: ChannelErrorOptions,
  ) {
    super(code, message, options);
    this.name = "AuthError";
  }
}

/** Too many failed handshakes from one address: its new connections are refused for `retryAfter` ms. */
export class AuthThrottledError extends AuthError {
  /** The remote address (IPv6: its /64 prefix). */
  readonly address: string;
  /** Failures counted before the ban. */
  readonly failures: number;
  /** How long the address is refused, in ms. */
  readonly retryAfter: number;

  constructor(message: string, address: string, failures: number, retryAfter: number, options?: ChannelErrorOptions) {
    super(ErrorCode.AUTH_THROTTLED, message, options);
    this.name = "AuthThrottledError";
    this.address = address;
    this.failures = failures;
    this.retryAfter = retryAfter;
  }
}

/** A live service already uses the id this connection claimed. */
export class DuplicateIdError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.DUPLICATE_ID, message, options);
    this.name = "DuplicateIdError";
  }
}

/** The peer violated the wire protocol; the link that carried it is closed. */
export class ProtocolError extends ChannelError {
  constructor(
    code:
      | typeof ErrorCode.MALFORMED_FRAME
      | typeof ErrorCode.UNKNOWN_FRAME
      | typeof ErrorCode.FRAME_TOO_LARGE
      | typeof ErrorCode.PROTOCOL_VERSION
      | typeof ErrorCode.HANDSHAKE_TIMEOUT,
    message: string,
    options?: ChannelErrorOptions,
  ) {
    super(code, message, options);
    this.name = "ProtocolError";
  }
}

/** A peer made per-link state grow past a configured limit. */
export class LimitExceededError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.LIMIT_EXCEEDED, message, options);
    this.name = "LimitExceededError";
  }
}

/** A peer stopped acknowledging frames while the link stayed open: it does not read. */
export class SlowPeerError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.SLOW_PEER, message, options);
    this.name = "SlowPeerError";
  }
}

/** A topic or pattern is syntactically invalid or reserved. */
export class InvalidTopicError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.INVALID_TOPIC, message, options);
    this.name = "InvalidTopicError";
  }
}

/** A payload could not be encoded (on publish) or decoded (on receive). */
export class PayloadError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.PAYLOAD, message, options);
    this.name = "PayloadError";
  }
}

/** A subscriber threw or returned a rejected promise. */
export class SubscriberError extends ChannelError {
  /** The topic of the message being delivered. */
  readonly topic: string;

  constructor(message: string, topic: string, options?: ChannelErrorOptions) {
    super(ErrorCode.SUBSCRIBER, message, options);
    this.name = "SubscriberError";
    this.topic = topic;
  }
}

/** A connection could not be established. */
export class ConnectError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.CONNECT, message, options);
    this.name = "ConnectError";
  }
}

/** The operation needs an open channel. */
export class ClosedError extends ChannelError {
  constructor(message = "the channel is closed", options?: ChannelErrorOptions) {
    super(ErrorCode.CLOSED, message, options);
    this.name = "ClosedError";
  }
}

/** An option was given an invalid value. */
export class InvalidOptionError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.INVALID_OPTION, message, options);
    this.name = "InvalidOptionError";
  }
}

/** The transport under a link failed (socket error, abnormal close). */
export class TransportError extends ChannelError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(ErrorCode.TRANSPORT, message, options);
    this.name = "TransportError";
  }
}

const codes = new Set<string>(Object.values(ErrorCode));

/** Rebuilds the typed error a peer reported in an ERROR frame. */
export function errorFromWire(code: string, message: string, peer: string | undefined): ChannelError {
  const options = { peer };
  const text = `peer refused the link: ${message}`;
  switch (code) {
    case ErrorCode.AUTH_FAILED:
    case ErrorCode.AUTH_REQUIRED:
    case ErrorCode.IDENTITY:
      return new AuthError(code, text, options);
    case ErrorCode.DUPLICATE_ID:
      return new DuplicateIdError(text, options);
    case ErrorCode.PROTOCOL_VERSION:
    case ErrorCode.MALFORMED_FRAME:
    case ErrorCode.UNKNOWN_FRAME:
    case ErrorCode.FRAME_TOO_LARGE:
    case ErrorCode.HANDSHAKE_TIMEOUT:
      return new ProtocolError(code, text, options);
    case ErrorCode.LIMIT_EXCEEDED:
      return new LimitExceededError(text, options);
    default:
      return new ChannelError(codes.has(code) ? (code as ErrorCode) : ErrorCode.MALFORMED_FRAME, text, options);
  }
}
