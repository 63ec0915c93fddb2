import { ChannelError, type ChannelErrorOptions } from "@sfn/channel-core";

/** Stable codes of the errors this package raises. */
export const WsErrorCode = {
  /** `via` named a service that is not a linked WebSocket front end. */
  UNKNOWN_SERVER: "ERR_WS_UNKNOWN_SERVER",
  /** Some front ends or clients did not answer in time. */
  TIMEOUT: "ERR_WS_TIMEOUT",
  /** A front end received an operation it cannot read (dropped, not applied). */
  BAD_OPERATION: "ERR_WS_BAD_OPERATION",
  /** An operation was used in a way Socket.IO does not allow. */
  USAGE: "ERR_WS_USAGE",
} as const;

/** One of {@link WsErrorCode}. */
export type WsErrorCode = (typeof WsErrorCode)[keyof typeof WsErrorCode];

/** Base class of this package's errors; a `ChannelError` with a `ERR_WS_*` code. */
export class WsError extends ChannelError {
  constructor(code: WsErrorCode, message: string, options?: ChannelErrorOptions) {
    super(code, message, options);
    this.name = "WsError";
  }
}

/**
 * `via` named services that are not linked WebSocket front ends (now, or through their resume
 * window). The operation was sent nowhere, not even to the named front ends that are known.
 */
export class WsUnknownServerError extends WsError {
  /** The names in `via` that are not front ends. */
  readonly unknown: string[];

  constructor(what: string, unknown: string[]) {
    super(
      WsErrorCode.UNKNOWN_SERVER,
      `${what}: via(${unknown.map((u) => JSON.stringify(u)).join(", ")}) ${unknown.length === 1 ? "is not a linked WebSocket front end" : "are not linked WebSocket front ends"}; nothing was sent`,
    );
    this.name = "WsUnknownServerError";
    this.unknown = unknown;
  }
}

/** What front ends answered before a timeout. */
export interface WsTimeoutDetail {
  /** Front ends that answered completely. */
  answered: string[];
  /** Front ends that did not answer, or answered only in part. */
  missing: string[];
  /** Client answers that did arrive (acks) or sockets found (fetchSockets). */
  received: number;
}

/** Some front ends or clients did not answer within the timeout. */
export class WsTimeoutError extends WsError implements WsTimeoutDetail {
  readonly answered: string[];
  readonly missing: string[];
  readonly received: number;
  /** The answers that did arrive. */
  readonly partial: unknown[];

  constructor(what: string, detail: WsTimeoutDetail, partial: unknown[]) {
    super(
      WsErrorCode.TIMEOUT,
      `${what} timed out: ${detail.answered.length} front end(s) answered in full (${detail.answered.join(", ") || "none"}), ` +
        `${detail.missing.length} did not (${detail.missing.join(", ") || "none"}); ${detail.received} client answer(s) arrived`,
    );
    this.name = "WsTimeoutError";
    this.answered = detail.answered;
    this.missing = detail.missing;
    this.received = detail.received;
    this.partial = partial;
  }
}
