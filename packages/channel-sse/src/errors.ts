import { ChannelError, type ChannelErrorOptions } from "@sfn/channel-core";

/** Stable codes of the errors this package raises. */
export const SseErrorCode = {
  /** An event name, id, client id or room name contains CR, LF or NUL (it could inject fields or events), or a client id is empty or over 256 bytes. */
  INVALID_FIELD: "ERR_SSE_INVALID_FIELD",
  /** `via` named a service that is not a linked SSE front end. */
  UNKNOWN_SERVER: "ERR_SSE_UNKNOWN_SERVER",
  /** A client stayed slow past its buffer bound and was disconnected. */
  SLOW_CLIENT: "ERR_SSE_SLOW_CLIENT",
  /** A front end received an operation it cannot read (dropped, not applied). */
  BAD_OPERATION: "ERR_SSE_BAD_OPERATION",
  /** The data could not be serialized (or holds a value too costly to serialize, such as a huge bigint). */
  SERIALIZE: "ERR_SSE_SERIALIZE",
  /** A serialized event is over `maxEventBytes`: refused at the publisher, or dropped and reported at the front end. */
  TOO_LARGE: "ERR_SSE_TOO_LARGE",
} as const;

/** One of {@link SseErrorCode}. */
export type SseErrorCode = (typeof SseErrorCode)[keyof typeof SseErrorCode];

/** Base class of this package's errors; a `ChannelError` with an `ERR_SSE_*` code. */
export class SseError extends ChannelError {
  constructor(code: SseErrorCode, message: string, options?: ChannelErrorOptions) {
    super(code, message, options);
    this.name = "SseError";
  }
}
