// Compile-time only (`pnpm typecheck`): the structural shapes the front end relies on, instead of
// importing socket.io's types into the published declarations, must fit socket.io's real classes.
import type { Namespace, Server, Socket } from "socket.io";
import type { LocalSocketShape, NamespaceShape, SocketIoServer } from "../src/front-end.js";

export const fits = {
  server: (io: Server): SocketIoServer => io,
  namespace: (nsp: Namespace): NamespaceShape => nsp,
  socket: (socket: Socket): LocalSocketShape => socket,
};
