/**
 * `@sfn/channel-core`: brokerless, loss-free publish/subscribe between Node.js services.
 *
 * @example
 * ```ts
 * import { MessageChannel } from "@sfn/channel-core";
 *
 * const message = new MessageChannel({ id: "rpc-server-1" });
 * await message.listen({ port: 4000 });
 * message.subscribe("greeting", (msg, meta) => console.log(msg, "from", meta.from));
 * message.publish("greeting", "Hello, World!");
 * ```
 * @packageDocumentation
 */
export { MessageChannel, isChannelError } from "./message-channel.js";
export type { CloseOptions } from "./message-channel.js";
export { MeshRouter } from "./mesh-router.js";
export type { Router } from "./router.js";
export {
  AuthError,
  AuthThrottledError,
  ChannelError,
  ClosedError,
  ConnectError,
  DuplicateIdError,
  ErrorCode,
  InvalidOptionError,
  InvalidTopicError,
  LimitExceededError,
  PayloadError,
  ProtocolError,
  SlowPeerError,
  SubscriberError,
  TransportError,
} from "./errors.js";
export type { ChannelErrorOptions } from "./errors.js";
export { PROTOCOL_VERSION } from "./protocol/frames.js";
export { RESERVED_PREFIX, matchTopic } from "./protocol/topic.js";
export { WsTransport } from "./transport/ws-transport.js";
export { SERVICE_URI_PREFIX, peerIdsOf } from "./transport/identity.js";
export type {
  AdmitAddress,
  DialOptions,
  Transport,
  TransportConnection,
  TransportHandlers,
  TransportLimits,
  TransportListener,
} from "./transport/transport.js";
export type { PatternData, PatternTemplate, TopicsMatching } from "./typed-topics.js";
export type {
  BrokerInfo,
  ConnectOptions,
  ConnectTlsOptions,
  DefaultTopics,
  DropInfo,
  DropReason,
  HeartbeatOptions,
  LimitOptions,
  LinkDownInfo,
  LinkDownReason,
  LinkState,
  LinkUpInfo,
  ListenAddress,
  MeshOptions,
  ListenOptions,
  ListenTlsOptions,
  Listener,
  MessageChannelEvents,
  MessageChannelOptions,
  MessageMeta,
  MessagePosition,
  PeerInfo,
  PublishOptions,
  ReconnectOptions,
  ResumeWindowOptions,
  TopicMap,
  Unsubscribe,
} from "./types.js";
