/**
 * `@sfn/channel-core/internal`: the wider API the sibling adapter packages
 * (`@sfn/channel-ws`, `@sfn/channel-sse`) build on. Not for applications; it may change
 * in any minor release.
 *
 * @example
 * ```ts
 * import { internals } from "@sfn/channel-core/internal";
 * internals(channel).subscribe("$sfn.ws.>", (op) => apply(op));
 * ```
 * @packageDocumentation
 */
import { INTERNAL, type ChannelLike, type InternalApi } from "./message-channel.js";

export { INTERNAL } from "./message-channel.js";
export type { ChannelLike, InternalApi, Route } from "./message-channel.js";
export { RESERVED_PREFIX } from "./protocol/topic.js";
export { FrameType, PROTOCOL_VERSION } from "./protocol/frames.js";
export { decodeFrames, createDecoder, encodeControl, encodeMessageBody, encodeSequenced, packValue } from "./protocol/codec.js";

/** Publish/subscribe under the reserved `$sfn.` prefix, for adapter packages. */
export function internals(channel: ChannelLike): InternalApi {
  return channel[INTERNAL];
}
