/**
 * `@sfn/channel-core/internal`: the wider API the sibling packages build on: the adapters
 * (`@sfn/channel-ws`, `@sfn/channel-sse`) and the routers (`@sfn/channel-nats`). Not for applications; it may change
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
export { knownKeys, stringList } from "./arguments.js";
export type { ChannelLike, InternalApi, PublishToOptions, PublishToResult } from "./message-channel.js";
export { RESERVED_PREFIX, assertTopic } from "./protocol/topic.js";
export { FrameType, PROTOCOL_VERSION } from "./protocol/frames.js";
export {
  decodeFrames,
  createDecoder,
  decodeMessageBody,
  decodeMessageData,
  encodeControl,
  encodeMessageBody,
  encodeMessageData,
  encodeSequenced,
  packValue,
} from "./protocol/codec.js";
export type { MessageBody } from "./protocol/codec.js";
export { isLinkingRouter } from "./router.js";
export type { LinkingRouter, RoutePublishOptions, Router, RouterHost } from "./router.js";

/** Publish/subscribe under the reserved `$sfn.` prefix, for adapter packages. */
export function internals(channel: ChannelLike): InternalApi {
  return channel[INTERNAL];
}

/**
 * Puts an adapter's API on a channel as a read-only property (`message.ws`, `message.sse`),
 * creating it once; later calls return the same channel with the same API.
 */
export function extend<C extends ChannelLike, K extends string, V>(channel: C, name: K, create: () => V): C & { readonly [P in K]: V } {
  const key = Symbol.for(`sfn.channel.ext.${name}`);
  const holder = channel as unknown as Record<symbol, V | undefined>;
  if (holder[key] === undefined) {
    const api = create();
    Object.defineProperty(channel, key, { value: api });
    Object.defineProperty(channel, name, { get: () => api, enumerable: false });
  }
  return channel as C & { readonly [P in K]: V };
}
