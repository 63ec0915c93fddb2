import type { Server } from "socket.io";
import type { Operation, RemoteSocketInfo, Reply } from "./protocol.js";

/** The part of a Socket.IO broadcast operator a front end uses. */
interface Broadcast {
  local: Broadcast;
  volatile: Broadcast;
  compress(flag: boolean): Broadcast;
  timeout(ms: number): Broadcast;
  except(rooms: string[]): Broadcast;
  emit(ev: string, ...args: unknown[]): boolean;
  socketsJoin(rooms: string[]): void;
  socketsLeave(rooms: string[]): void;
  disconnectSockets(close?: boolean): void;
  fetchSockets(): Promise<{ id: string; rooms: Set<string>; handshake: object; data: unknown }[]>;
}

/**
 * Builds the Socket.IO operator an operation describes. Without `via` the operation was sent
 * to every front end, so each applies it to its own clients only (`local`): a cluster adapter
 * behind the front ends must not deliver it a second time.
 */
function broadcastFor(io: Server, op: Operation): Broadcast | undefined {
  // An operation never creates a namespace: without one, nobody is there to reach.
  const nsp = (io as unknown as { _nsps: Map<string, { to(r: string[]): Broadcast; except(r: string[]): Broadcast }> })._nsps.get(op.nsp);
  if (!nsp) return undefined;
  let b = op.rooms.length > 0 ? nsp.to(op.rooms) : nsp.except([]);
  if (op.except.length > 0) b = b.except(op.except);
  if (op.local || !op.via) b = b.local;
  if (op.volatile) b = b.volatile;
  if (op.compress !== undefined) b = b.compress(op.compress);
  return b;
}

/** Applies one operation on a front end; resolves with the reply for requests. */
export async function applyOperation(io: Server, server: string, op: Operation): Promise<Reply | undefined> {
  const b = broadcastFor(io, op);
  switch (op.t) {
    case "emit":
      b?.emit(op.ev, ...op.args);
      return undefined;
    case "join":
      b?.socketsJoin(op.names);
      return undefined;
    case "leave":
      b?.socketsLeave(op.names);
      return undefined;
    case "disconnect":
      b?.disconnectSockets(op.close);
      return undefined;
    case "fetch": {
      const sockets = b ? await b.fetchSockets() : [];
      const items: RemoteSocketInfo[] = sockets.map((s) => ({
        id: s.id,
        rooms: [...s.rooms],
        handshake: { ...(s.handshake as Record<string, unknown>) },
        data: s.data,
        server,
      }));
      return { req: op.req, server, items, complete: true };
    }
    case "ack": {
      if (!b) return { req: op.req, server, items: [], complete: true };
      return new Promise<Reply>((resolve) => {
        b.timeout(op.timeout).emit(op.ev, ...op.args, (err: unknown, responses: unknown[]) => {
          resolve({ req: op.req, server, items: responses ?? [], complete: !err });
        });
      });
    }
  }
}
