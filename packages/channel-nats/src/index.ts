/**
 * `@sfn/channel-nats` (in progress): the pieces a NATS router for `MessageChannel` is built
 * from. The router itself needs a routing seam in `@sfn/channel-core` that does not exist yet,
 * so nothing here carries channel messages; see the README.
 *
 * @example
 * ```ts
 * import { SubjectSpace } from "@sfn/channel-nats";
 *
 * const space = new SubjectSpace("prod");
 * space.pattern("orders.>"); // "sfn.prod.t.orders.>"
 * ```
 * @packageDocumentation
 */
export { NatsError, NatsErrorCode, NatsSubjectError } from "./errors.js";
export { DEFAULT_MAX_SUBJECT_BYTES, DEFAULT_NAMESPACE, SubjectSpace, decodeServiceId, encodeServiceId } from "./subjects.js";
export type { SubjectSpaceOptions } from "./subjects.js";
export { BrokerWindow } from "./broker-window.js";
export type { BrokerWindowHost, BrokerWindowOptions, OutboundMessage, WindowDropReason } from "./broker-window.js";
export { CLAIM_HEADER, answerClaim, claimId } from "./claim.js";
export type { ClaimResult } from "./claim.js";
export { PRESENCE_VERSION, Presence, readAnnouncement, timerHost } from "./presence.js";
export type { PresenceAnnouncement, PresenceDownReason, PresenceEvents, PresenceHost, PresenceOptions, PresencePeer } from "./presence.js";
