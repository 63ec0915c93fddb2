import type { Operation, RemoteSocketInfo, Reply } from "./protocol.js";

/**
 * What `serve(io)` needs of a Socket.IO v4 `Server`. It is written structurally, not imported
 * from socket.io, so that a service which only publishes (and does not install socket.io, an
 * optional peer) compiles against this package's types with `skipLibCheck` off.
 */
export interface SocketIoServer {
  /** Socket.IO's namespaces by name; read only, so an operation never creates a namespace. */
  readonly _nsps: ReadonlyMap<string, unknown>;
}

/** The part of a Socket.IO `Namespace` a front end uses. */
export interface NamespaceShape {
  /** The namespace's adapter (replaced by `io.adapter(...)`). */
  readonly adapter: object;
  /** This server's own sockets of the namespace, by id. */
  readonly sockets: ReadonlyMap<string, unknown>;
  to(rooms: string[]): BroadcastShape;
  except(rooms: string[]): BroadcastShape;
}

/** The part of a Socket.IO `BroadcastOperator` a front end uses. */
export interface BroadcastShape {
  readonly local: BroadcastShape;
  readonly volatile: BroadcastShape;
  compress(flag: boolean): BroadcastShape;
  timeout(ms: number): BroadcastShape;
  except(rooms: string[]): BroadcastShape;
  emit(ev: string, ...args: unknown[]): boolean;
  socketsJoin(rooms: string[]): void;
  socketsLeave(rooms: string[]): void;
  disconnectSockets(close?: boolean): void;
  fetchSockets(): Promise<SocketShape[]>;
}

/** The part of a Socket.IO `Socket` (or `RemoteSocket`) a front end uses. */
export interface SocketShape {
  readonly id: string;
  readonly rooms: Set<string>;
  readonly handshake: object;
  readonly data: unknown;
  timeout(ms: number): { emit(ev: string, ...args: unknown[]): boolean };
}

/** A socket of this very front end (what `fetchSockets` returns under the `local` flag). */
export interface LocalSocketShape extends SocketShape {
  readonly volatile: LocalSocketShape;
  compress(flag: boolean): LocalSocketShape;
}

/** Where an operation applies: the namespace's operator, and whether it stays on this front end. */
interface Applied {
  b: BroadcastShape;
  local: boolean;
}

// The operator of a whole namespace, local or not, per adapter: most operations (a plain
// `emit` to everyone) need nothing else, and Socket.IO's operators are immutable, so one can be
// reused instead of building three per operation. Keyed by the adapter, which the operator holds:
// `io.adapter(...)` gives every namespace a new one.
const everyone = new WeakMap<object, { all: BroadcastShape; local: BroadcastShape }>();

function everyoneIn(nsp: NamespaceShape): { all: BroadcastShape; local: BroadcastShape } {
  const key = nsp.adapter;
  let e = everyone.get(key);
  if (!e) {
    const all = nsp.except([]);
    e = { all, local: all.local };
    everyone.set(key, e);
  }
  return e;
}

/**
 * Builds the Socket.IO operator an operation describes. Without `via` the operation was sent
 * to every front end, so each applies it to its own clients only (`local`): a cluster adapter
 * behind the front ends must not deliver it a second time.
 */
function broadcastFor(io: SocketIoServer, op: Operation): Applied | undefined {
  // An operation never creates a namespace: without one, nobody is there to reach.
  const nsp = io._nsps.get(op.nsp) as NamespaceShape | undefined;
  if (!nsp) return undefined;
  const local = op.local === true || !op.via;
  if (op.rooms.length === 0 && op.except.length === 0) {
    const e = everyoneIn(nsp);
    return { b: local ? e.local : e.all, local };
  }
  let b = op.rooms.length > 0 ? nsp.to(op.rooms) : nsp.except([]);
  if (op.except.length > 0) b = b.except(op.except);
  if (local) b = b.local;
  return { b, local };
}

/** Socket.IO's volatile and compress flags, on an operator or a socket. */
function flagged<T extends { readonly volatile: T; compress(flag: boolean): T }>(target: T, op: Operation): T {
  let t = op.volatile ? target.volatile : target;
  if (op.compress !== undefined) t = t.compress(op.compress);
  return t;
}

/**
 * Emits to this front end's own matching sockets and gathers their answers. Socket.IO's
 * `io.local.timeout(t).emit(ev, cb)` cannot do this behind a cluster adapter: it still waits
 * for an answer from every server of the cluster (`serverCount()`), which never comes, so it
 * always times out. Each socket gets its own `socket.timeout(t).emit(...)` instead.
 */
async function localAck(b: BroadcastShape, op: Extract<Operation, { t: "ack" }>): Promise<{ items: unknown[]; complete: boolean }> {
  const sockets = (await b.fetchSockets()) as LocalSocketShape[];
  const answers = await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<{ ok: boolean; value?: unknown }>((resolve) => {
          // As in a Socket.IO broadcast, each client contributes the first argument of its acknowledgement.
          flagged(socket, op)
            .timeout(op.timeout)
            .emit(op.ev, ...op.args, (err: unknown, ...response: unknown[]) =>
              resolve(err ? { ok: false } : { ok: true, value: response[0] }),
            );
        }),
    ),
  );
  return { items: answers.filter((a) => a.ok).map((a) => a.value), complete: answers.every((a) => a.ok) };
}

/** An operation that asks for an answer. */
export type Request = Extract<Operation, { t: "fetch" | "ack" }>;

/**
 * Applies one operation on a front end. Commands (`emit`, room changes, disconnects) are applied
 * at once and return undefined, with no promise per operation; requests return the promise of
 * their reply.
 */
export function applyOperation(io: SocketIoServer, server: string, op: Operation): Promise<Reply> | undefined {
  if (op.t === "fetch" || op.t === "ack") return answer(io, server, op);
  const applied = broadcastFor(io, op);
  if (!applied) return undefined;
  const b = op.volatile || op.compress !== undefined ? flagged(applied.b, op) : applied.b;
  switch (op.t) {
    case "emit":
      b.emit(op.ev, ...op.args);
      return undefined;
    case "join":
      b.socketsJoin(op.names);
      return undefined;
    case "leave":
      b.socketsLeave(op.names);
      return undefined;
    case "disconnect":
      b.disconnectSockets(op.close);
      return undefined;
  }
}

/** Answers a request on this front end. */
async function answer(io: SocketIoServer, server: string, op: Request): Promise<Reply> {
  const applied = broadcastFor(io, op);
  const b = applied && flagged(applied.b, op);
  switch (op.t) {
    case "fetch": {
      const sockets = b ? await b.fetchSockets() : [];
      // Through a cluster adapter (`via` without `local`) sockets of the other Socket.IO servers
      // come too: their server is not this front end, and it has no name here.
      const own = (io._nsps.get(op.nsp) as NamespaceShape | undefined)?.sockets;
      const items: RemoteSocketInfo[] = sockets.map((s) => ({
        id: s.id,
        rooms: [...s.rooms],
        handshake: { ...(s.handshake as Record<string, unknown>) },
        data: s.data,
        server: own?.has(s.id) ? server : undefined,
      }));
      return { req: op.req, server, items, complete: true };
    }
    case "ack": {
      if (!applied) return { req: op.req, server, items: [], complete: true };
      if (applied.local) return { req: op.req, server, ...(await localAck(applied.b, op)) };
      // Through this front end's whole cluster: Socket.IO counts the cluster's servers and answers itself.
      return new Promise<Reply>((resolve) => {
        flagged(applied.b, op)
          .timeout(op.timeout)
          .emit(op.ev, ...op.args, (err: unknown, responses: unknown[]) => {
            resolve({ req: op.req, server, items: responses ?? [], complete: !err });
          });
      });
    }
  }
}
