/**
 * `@sfn/channel-sse`: a correct, memory-bounded Server-Sent Events front end, and push to its
 * browsers from any linked service.
 *
 * @example
 * ```ts
 * import { MessageChannel } from "@sfn/channel-core";
 * import { withSse } from "@sfn/channel-sse";
 *
 * const web = withSse(new MessageChannel({ id: "web-server-1" }));
 * web.sse.serve();
 * http.createServer((req, res) => web.sse.connect(req, res)).listen(3000);
 *
 * const message = withSse(new MessageChannel({ id: "rpc-server-1" }));
 * await message.connect("ws://web-1:4000/");
 * message.sse.via("web-server-1").to("PbiJhda21").emit("greeting", "Hello, World!");
 * ```
 * @packageDocumentation
 */
export { withSse, SseApi } from "./sse-api.js";
export type { WithSse } from "./sse-api.js";
export { SseOperator } from "./operator.js";
export { SseFrontEnd, CLIENT_EVENT, GAP_EVENT } from "./front-end.js";
export type { SseFrontEndOptions, SseConnectOptions, SseGapReason } from "./front-end.js";
export { SseClient } from "./sse-client.js";
export type { SseCloseReason, SseResponse } from "./sse-client.js";
export { SseError, SseErrorCode } from "./errors.js";
export { assertField, comment, eventBody, idLine, jsonSerializer, retryField, MAX_BIGINT_DIGITS } from "./sse-frame.js";
export { MAX_CLIENT_ID_BYTES, MAX_EVENT_ID_LENGTH } from "./event-id.js";
export type { Serializer } from "./sse-frame.js";
