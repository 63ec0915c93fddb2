/**
 * `@sfn/channel-ws`: push Socket.IO events to the browsers of any linked front end.
 *
 * @example
 * ```ts
 * import { MessageChannel } from "@sfn/channel-core";
 * import { withWs } from "@sfn/channel-ws";
 *
 * // front end: a Socket.IO server, registered once
 * const web = withWs(new MessageChannel({ id: "web-server-1" }));
 * await web.listen({ server: httpServer, path: "/sfn-channel" });
 * web.ws.serve(io);
 *
 * // any linked service, even one without browser connections
 * const message = withWs(new MessageChannel({ id: "rpc-server-1" }));
 * await message.connect("ws://web-1:3000/sfn-channel");
 * message.ws.to("room-42").emit("greeting", "Hello, World!");
 * ```
 * @packageDocumentation
 */
export { withWs, WsApi } from "./ws-api.js";
export type { ServeOptions, WithWs } from "./ws-api.js";
export { WsOperator, DEFAULT_REQUEST_TIMEOUT } from "./operator.js";
export { WsError, WsErrorCode, WsTimeoutError, WsUnknownServerError } from "./errors.js";
export type { WsTimeoutDetail } from "./errors.js";
export type { RemoteSocketInfo } from "./protocol.js";
export type { SocketIoServer } from "./front-end.js";
