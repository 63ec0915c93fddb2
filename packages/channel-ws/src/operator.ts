import { InvalidOptionError } from "@sfn/channel-core";
import { stringList } from "@sfn/channel-core/internal";
import type { Operation, RemoteSocketInfo, Target } from "./protocol.js";

/** Default time front ends get to answer `fetchSockets` and `emitWithAck`, in ms. */
export const DEFAULT_REQUEST_TIMEOUT = 5000;

/** What an operator hands its operations to (the publisher side of `message.ws`). */
export interface OperationSink {
  /** Sends a fire-and-forget operation; false if it could not go everywhere it should. */
  send(op: Operation): boolean;
  /** Sends a request and gathers the answers of every targeted front end. */
  request(op: Operation & { req: string }, timeout: number, what: string): Promise<unknown[]>;
  /** A fresh request id. */
  nextRequestId(): string;
}

interface State extends Target {
  binary?: boolean;
  timeout?: number;
}

/** Longest `timeout(ms)`: the most a timer of Node.js can wait (2^31 - 1 ms), less the requester's grace for answers to travel. */
const MAX_REQUEST_TIMEOUT = 2 ** 31 - 1 - 1000;

/** Event names Socket.IO reserves: its `emit` throws for them, so a front end would refuse them. */
const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  "connect",
  "connect_error",
  "disconnect",
  "disconnecting",
  "newListener",
  "removeListener",
]);

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : typeof v === "function" ? "a function" : String(v));

/** A room or service id, or a list of them, as a new array; anything else throws `InvalidOptionError`. */
function list(v: unknown, what: string): string[] {
  const names = stringList(v);
  if (names) return names;
  throw new InvalidOptionError(
    `${what} takes a string or an array of strings (got ${Array.isArray(v) ? "an array with a non-string" : show(v)})`,
  );
}

function flag(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") throw new InvalidOptionError(`${what} takes true or false (got ${show(v)})`);
  return v;
}

/** Checks an event name and arguments as Socket.IO would, before anything is sent. */
function checkEmit(event: unknown, args: readonly unknown[], what: string): string {
  if (typeof event !== "string") throw new InvalidOptionError(`${what}: the event name must be a string (got ${show(event)})`);
  if (RESERVED_EVENTS.has(event)) throw new InvalidOptionError(`${what}: "${event}" is a reserved event name in Socket.IO`);
  if (typeof args[args.length - 1] === "function") {
    throw new InvalidOptionError(`${what}: callbacks are not supported on broadcasts; use timeout(ms).emitWithAck(event, ...args)`);
  }
  return event;
}

/**
 * The Socket.IO operator chain, for any service of the mesh. Every step returns a new
 * operator, so a partial chain can be kept and reused safely.
 *
 * @example
 * ```ts
 * const admins = message.ws.of("/admin").to("ops");
 * admins.emit("alert", { level: "high" });
 * admins.except("muted").volatile.emit("tick", Date.now());
 * ```
 */
export class WsOperator {
  /** @internal */
  constructor(
    protected readonly sink: OperationSink,
    protected readonly state: State = { nsp: "/", rooms: [], except: [] },
  ) {}

  private with(patch: Partial<State>): WsOperator {
    return new WsOperator(this.sink, { ...this.state, ...patch });
  }

  /** Targets a room, or several (union). Rooms are strings (a socket id is a room). */
  to(room: string | readonly string[]): WsOperator {
    return this.with({ rooms: [...new Set([...this.state.rooms, ...list(room, "to(room)")])] });
  }

  /** Same as {@link WsOperator.to}. */
  in(room: string | readonly string[]): WsOperator {
    return this.with({ rooms: [...new Set([...this.state.rooms, ...list(room, "in(room)")])] });
  }

  /** Leaves out the sockets in a room, or in several. */
  except(room: string | readonly string[]): WsOperator {
    return this.with({ except: [...new Set([...this.state.except, ...list(room, "except(room)")])] });
  }

  /** Selects a namespace (default `/`). */
  of(namespace: string): WsOperator {
    if (typeof namespace !== "string") throw new InvalidOptionError(`of(namespace) takes a string (got ${show(namespace)})`);
    return this.with({ nsp: namespace.startsWith("/") ? namespace : `/${namespace}` });
  }

  /** The event may be lost if a client is not ready; it is also never kept for a link resume. */
  get volatile(): WsOperator {
    return this.with({ volatile: true });
  }

  /** Applies only on the front end itself, not through its own Socket.IO cluster adapter. */
  get local(): WsOperator {
    return this.with({ local: true });
  }

  /** Sets Socket.IO's compress flag (effective where the front end enables permessage-deflate). */
  compress(compress: boolean): WsOperator {
    return this.with({ compress: flag(compress, "compress(flag)") });
  }

  /**
   * Kept for compatibility with Socket.IO 2's API: Socket.IO 4 detects binary arguments
   * itself, and `Buffer`s and typed arrays always reach the browser as binary.
   */
  binary(binary: boolean): WsOperator {
    return this.with({ binary: flag(binary, "binary(flag)") });
  }

  /**
   * Only these front ends (service ids) receive the operation. All or nothing: if any of them is
   * not a linked front end, the operation goes nowhere and fails with `ERR_WS_UNKNOWN_SERVER`
   * (reported and `false`, or a rejection for `fetchSockets`/`emitWithAck`).
   */
  via(serverId: string | readonly string[]): WsOperator {
    return this.with({ via: list(serverId, "via(serverId)") });
  }

  /**
   * Time front ends and clients get to answer `emitWithAck` and `fetchSockets`, in ms: a
   * positive finite number, at most 2147482647 (what a Node.js timer can wait, less a second
   * for answers to travel); anything else throws `InvalidOptionError`.
   */
  timeout(ms: number): WsOperator {
    if (typeof ms !== "number" || !(ms > 0) || ms > MAX_REQUEST_TIMEOUT) {
      throw new InvalidOptionError(`timeout(ms) takes a positive number of ms, at most ${MAX_REQUEST_TIMEOUT} (got ${show(ms)})`);
    }
    return this.with({ timeout: ms });
  }

  /**
   * Emits an event to every matching socket of every targeted front end. False: a link is
   * congested (wait for the channel's `drain`), or a `via` name is unknown (reported; nothing sent).
   * Throws `InvalidOptionError`, sending nothing, for what Socket.IO would refuse: an event name
   * that is not a string or is reserved (`connect`, `disconnect`, ...), or a callback argument.
   */
  emit(event: string, ...args: unknown[]): boolean {
    const ev = checkEmit(event, args, "emit");
    return this.sink.send({ ...this.target(), t: "emit", ev, args });
  }

  /** Emits the `message` event. */
  send(...args: unknown[]): boolean {
    return this.emit("message", ...args);
  }

  /** Same as {@link WsOperator.send}. */
  write(...args: unknown[]): boolean {
    return this.send(...args);
  }

  /**
   * Emits and waits for every matching client's acknowledgement on every targeted front end.
   * Resolves with all answers; rejects with a `WsTimeoutError` saying who did not answer, or,
   * sending nothing, with the `InvalidOptionError` that `emit` would throw.
   */
  async emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    const ev = checkEmit(event, args, "emitWithAck");
    const timeout = this.state.timeout ?? DEFAULT_REQUEST_TIMEOUT;
    return this.sink.request(
      { ...this.target(), t: "ack", req: this.sink.nextRequestId(), ev, args, timeout },
      timeout,
      `emitWithAck(${JSON.stringify(ev)})`,
    );
  }

  /** Makes matching sockets join rooms. */
  socketsJoin(rooms: string | readonly string[]): boolean {
    return this.sink.send({ ...this.target(), t: "join", names: list(rooms, "socketsJoin(rooms)") });
  }

  /** Makes matching sockets leave rooms. */
  socketsLeave(rooms: string | readonly string[]): boolean {
    return this.sink.send({ ...this.target(), t: "leave", names: list(rooms, "socketsLeave(rooms)") });
  }

  /** Disconnects matching sockets (`close`: also close the underlying connection). */
  disconnectSockets(close = false): boolean {
    return this.sink.send({ ...this.target(), t: "disconnect", close: flag(close, "disconnectSockets(close)") });
  }

  /** Describes every matching socket on every targeted front end. */
  async fetchSockets(): Promise<RemoteSocketInfo[]> {
    const timeout = this.state.timeout ?? DEFAULT_REQUEST_TIMEOUT;
    return (await this.sink.request(
      { ...this.target(), t: "fetch", req: this.sink.nextRequestId() },
      timeout,
      "fetchSockets()",
    )) as RemoteSocketInfo[];
  }

  private target(): Target {
    const { nsp, rooms, except, via, volatile, local, compress } = this.state;
    const t: Target = { nsp, rooms, except };
    if (via) t.via = via;
    if (volatile) t.volatile = true;
    if (local) t.local = true;
    if (compress !== undefined) t.compress = compress;
    return t;
  }
}
