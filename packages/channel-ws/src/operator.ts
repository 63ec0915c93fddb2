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

const list = (v: string | readonly string[]): string[] => (typeof v === "string" ? [v] : [...v]);

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

  /** Targets a room, or several (union). */
  to(room: string | readonly string[]): WsOperator {
    return this.with({ rooms: [...new Set([...this.state.rooms, ...list(room)])] });
  }

  /** Same as {@link WsOperator.to}. */
  in(room: string | readonly string[]): WsOperator {
    return this.to(room);
  }

  /** Leaves out the sockets in a room, or in several. */
  except(room: string | readonly string[]): WsOperator {
    return this.with({ except: [...new Set([...this.state.except, ...list(room)])] });
  }

  /** Selects a namespace (default `/`). */
  of(namespace: string): WsOperator {
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
  compress(flag: boolean): WsOperator {
    return this.with({ compress: flag });
  }

  /**
   * Kept for compatibility with Socket.IO 2's API: Socket.IO 4 detects binary arguments
   * itself, and `Buffer`s and typed arrays always reach the browser as binary.
   */
  binary(flag: boolean): WsOperator {
    return this.with({ binary: flag });
  }

  /**
   * Only these front ends (service ids) receive the operation. All or nothing: if any of them is
   * not a linked front end, the operation goes nowhere and fails with `ERR_WS_UNKNOWN_SERVER`
   * (reported and `false`, or a rejection for `fetchSockets`/`emitWithAck`).
   */
  via(serverId: string | readonly string[]): WsOperator {
    return this.with({ via: list(serverId) });
  }

  /** Time front ends and clients get to answer `emitWithAck` and `fetchSockets`, in ms. */
  timeout(ms: number): WsOperator {
    if (!(ms > 0)) throw new RangeError("timeout must be a positive number of ms");
    return this.with({ timeout: ms });
  }

  /**
   * Emits an event to every matching socket of every targeted front end. False: a link is
   * congested (wait for the channel's `drain`), or a `via` name is unknown (reported; nothing sent).
   */
  emit(event: string, ...args: unknown[]): boolean {
    if (typeof args[args.length - 1] === "function") {
      throw new TypeError("callbacks are not supported on broadcasts; use timeout(ms).emitWithAck(event, ...args)");
    }
    return this.sink.send({ ...this.target(), t: "emit", ev: event, args });
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
   * Resolves with all answers; rejects with a `WsTimeoutError` saying who did not answer.
   */
  emitWithAck(event: string, ...args: unknown[]): Promise<unknown[]> {
    const timeout = this.state.timeout ?? DEFAULT_REQUEST_TIMEOUT;
    return this.sink.request(
      { ...this.target(), t: "ack", req: this.sink.nextRequestId(), ev: event, args, timeout },
      timeout,
      `emitWithAck("${event}")`,
    );
  }

  /** Makes matching sockets join rooms. */
  socketsJoin(rooms: string | readonly string[]): boolean {
    return this.sink.send({ ...this.target(), t: "join", names: list(rooms) });
  }

  /** Makes matching sockets leave rooms. */
  socketsLeave(rooms: string | readonly string[]): boolean {
    return this.sink.send({ ...this.target(), t: "leave", names: list(rooms) });
  }

  /** Disconnects matching sockets (`close`: also close the underlying connection). */
  disconnectSockets(close = false): boolean {
    return this.sink.send({ ...this.target(), t: "disconnect", close });
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
