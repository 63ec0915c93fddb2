import { ChannelError, type ChannelErrorOptions } from "@sfn/channel-core";

/** Stable codes of the errors this package raises (besides core's, e.g. `ERR_INVALID_TOPIC`, `ERR_DUPLICATE_ID`). */
export const NatsErrorCode = {
  /** A topic, service id or namespace cannot be carried as a NATS subject (too long, bad namespace, undecodable token). */
  SUBJECT: "ERR_NATS_SUBJECT",
  /** A presence announcement from the bus could not be read (dropped, not applied). */
  BAD_PRESENCE: "ERR_NATS_BAD_PRESENCE",
  /** Durable mode cannot run: no JetStream, a server too old, a stream or consumer that cannot be created or found. */
  DURABLE: "ERR_NATS_DURABLE",
} as const;

/** One of {@link NatsErrorCode}. */
export type NatsErrorCode = (typeof NatsErrorCode)[keyof typeof NatsErrorCode];

/** Base class of this package's errors; a `ChannelError` with an `ERR_NATS_*` code. */
export class NatsError extends ChannelError {
  constructor(code: NatsErrorCode, message: string, options?: ChannelErrorOptions) {
    super(code, message, options);
    this.name = "NatsError";
  }
}

/** A name cannot be mapped to or from a NATS subject. */
export class NatsSubjectError extends NatsError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(NatsErrorCode.SUBJECT, message, options);
    this.name = "NatsSubjectError";
  }
}

/** Durable mode (JetStream) cannot run, or its consumer stopped. */
export class NatsDurableError extends NatsError {
  constructor(message: string, options?: ChannelErrorOptions) {
    super(NatsErrorCode.DURABLE, message, options);
    this.name = "NatsDurableError";
  }
}
