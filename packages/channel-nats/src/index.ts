/**
 * `@sfn/channel-nats`: `MessageChannel` over a NATS cluster instead of a mesh of direct links.
 * Only the channel's construction changes; publish, subscribe and the adapters stay as they are.
 *
 * @example
 * ```ts
 * import { MessageChannel } from "@sfn/channel-core";
 * import { nats } from "@sfn/channel-nats";
 *
 * const message = new MessageChannel({ id: "rpc-server-1", router: nats({ servers: "nats://10.0.0.9:4222" }) });
 * await message.ready();
 * ```
 * @packageDocumentation
 */
export { ANY_SUBSCRIBER, FROM_HEADER, NatsRouter, nats } from "./nats-router.js";
export type { NatsHeartbeatOptions, NatsRouterOptions } from "./nats-router.js";
export { NatsDurableError, NatsError, NatsErrorCode, NatsSubjectError } from "./errors.js";
export { MIN_JETSTREAM_VERSION, PUBLISHER_HEADER, SEQUENCE_HEADER, durableConsumerConfig, durableStreamConfig } from "./durable.js";
export type { DurableLimits, HandledPositions, NatsDurableOptions } from "./durable.js";
export { DEFAULT_MAX_SUBJECT_BYTES, DEFAULT_NAMESPACE, SubjectSpace, decodeServiceId, encodeServiceId } from "./subjects.js";
export type { SubjectSpaceOptions } from "./subjects.js";
export { BrokerWindow } from "./broker-window.js";
export type { BrokerWindowHost, BrokerWindowOptions, OutboundMessage, WindowDropReason } from "./broker-window.js";
export { CLAIM_HEADER, answerClaim, claimId } from "./claim.js";
export type { ClaimResult } from "./claim.js";
export { PRESENCE_VERSION, Presence, readAnnouncement, timerHost } from "./presence.js";
export type { PresenceAnnouncement, PresenceDownReason, PresenceEvents, PresenceHost, PresenceOptions, PresencePeer } from "./presence.js";
