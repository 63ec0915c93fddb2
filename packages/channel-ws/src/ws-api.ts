import { randomBytes } from "node:crypto";
import { ClosedError, InvalidOptionError } from "@sfn/channel-core";
import { extend, internals, knownKeys, type ChannelLike, type InternalApi } from "@sfn/channel-core/internal";
import { WsError, WsErrorCode, WsTimeoutError, WsUnknownServerError } from "./errors.js";
import { applyOperation, type SocketIoServer } from "./front-end.js";
import { coalesceWrites } from "./coalesce-writes.js";
import { OP_TOPIC, REPLY_TOPIC, readOperation, readReply, type Operation, type Reply } from "./protocol.js";
import { WsOperator, type OperationSink } from "./operator.js";

// Extra time a requester waits beyond the front ends' own timeout, for their answers to travel.
const REPLY_GRACE = 250;
// Link-down reasons that mean the front end left on purpose, not that it failed.
const CLEAN_CLOSES: ReadonlySet<string> = new Set(["peer-closed", "peer-disconnected", "disconnected"]);

/** Options of {@link WsApi.serve}. */
export interface ServeOptions {
  /**
   * Write the packets that wait together for a client (several events that arrived in one link
   * frame, or while the client's previous write was in progress) in one system call, by corking
   * the client's TCP socket for engine.io's flush. It applies to everything the server sends,
   * and only to clients on the WebSocket transport; nothing is delayed.
   * @default true
   */
  coalesceWrites?: boolean;
}

interface Pending {
  expected: Set<string>;
  replies: Reply[];
  finish: () => void;
}

/**
 * `message.ws`: the Socket.IO operator chain for this service, plus `serve(io)` to make
 * this service a WebSocket front end.
 */
export class WsApi extends WsOperator {
  private readonly core: InternalApi;
  private readonly pending = new Map<string, Pending>();
  private served: { io: SocketIoServer; off: () => void } | undefined;
  // Set when the channel's `close` is first called: from then on every operation throws ERR_CLOSED.
  private closed = false;

  /** @internal */
  constructor(private readonly channel: ChannelLike) {
    const sink: OperationSink = {
      send: (op) => this.sendOp(op),
      request: (op, timeout, what) => this.request(op, timeout, what),
      nextRequestId: () => randomBytes(9).toString("base64url"),
    };
    super(sink);
    this.core = internals(channel);
    this.core.subscribe(REPLY_TOPIC, (data) => this.onReply(data));
    this.core.onLinkDown(({ peer, reason }) => {
      if (CLEAN_CLOSES.has(reason)) this.leftCleanly(peer);
    });
    this.core.onClose(() => {
      this.closed = true;
    });
  }

  /**
   * Registers a Socket.IO v4 server: from now on this service is a WebSocket front end under
   * its channel id, and operations from any linked service reach its clients. The server
   * keeps working as before, with or without a cluster adapter. Returns the unregister function.
   *
   * `io` is typed structurally ({@link SocketIoServer}), so services that only publish need
   * neither socket.io nor its types; any `Server` of socket.io 4 fits.
   *
   * Unless `options.coalesceWrites` is false, packets that wait together for a client (a burst
   * of operations) are written to it in one system call instead of one each; see {@link ServeOptions}.
   */
  serve(io: SocketIoServer, options: ServeOptions = {}): () => void {
    if (this.served)
      throw new WsError(WsErrorCode.USAGE, `service "${this.channel.id}" already serves a Socket.IO server; unserve() it first`);
    if (!(io?._nsps instanceof Map))
      throw new WsError(WsErrorCode.USAGE, "serve(io) takes a Socket.IO v4 Server (new Server() from socket.io)");
    knownKeys("serve(io, options)", options, ["coalesceWrites"]);
    if (options.coalesceWrites !== undefined && typeof options.coalesceWrites !== "boolean") {
      throw new InvalidOptionError("serve(io, options): coalesceWrites must be a boolean");
    }
    // Installed once the server has its engine (a Server may be attached after serve()).
    const coalesce = options.coalesceWrites !== false;
    let uncoalesce = coalesce ? coalesceWrites(io) : undefined;
    const off = this.core.subscribe(OP_TOPIC, (data, meta) => {
      if (coalesce) uncoalesce ??= coalesceWrites(io);
      const op = readOperation(data);
      if (!op) {
        this.core.report(
          new WsError(WsErrorCode.BAD_OPERATION, `dropped an unreadable WebSocket operation from "${meta.from}"`, { peer: meta.from }),
        );
        return;
      }
      // Commands are applied here and now; only requests (fetchSockets, acks) make a promise.
      return applyOperation(io, this.channel.id, op)?.then((reply) => {
        this.core.publish(REPLY_TOPIC, reply, { to: meta.from, local: meta.from === this.channel.id });
      });
    });
    this.served = {
      io,
      off: () => {
        off();
        uncoalesce?.();
      },
    };
    return () => this.unserve();
  }

  /** Stops being a WebSocket front end (the Socket.IO server itself keeps running). */
  unserve(): void {
    this.served?.off();
    this.served = undefined;
  }

  /**
   * Front ends (service ids) reachable now or through their resume window, this one first if it
   * serves; none once the channel is closed.
   */
  servers(): string[] {
    return this.closed ? [] : this.core.servers(OP_TOPIC);
  }

  private sendOp(op: Operation): boolean {
    if (this.closed) throw new ClosedError();
    // All or nothing: a via naming anything but a linked front end sends the operation nowhere.
    const unknown = this.unknownIn(op.via);
    if (unknown.length > 0) {
      this.core.report(new WsUnknownServerError(whatOf(op), unknown));
      return false;
    }
    return this.core.publishTo(OP_TOPIC, op, { via: op.via, volatile: op.volatile }).ok;
  }

  /** Names in `via` that are not front ends reachable now or through their resume window. */
  private unknownIn(via: readonly string[] | undefined): string[] {
    if (!via) return [];
    const servers = this.servers();
    return via.filter((v) => !servers.includes(v));
  }

  private request(op: Operation & { req: string }, timeout: number, what: string): Promise<unknown[]> {
    // Checked first: with no front end to ask, a closed channel would otherwise answer [].
    if (this.closed) return Promise.reject(new ClosedError());
    // The same rule as sendOp: an unknown front end fails the request before anything is sent.
    const unknown = this.unknownIn(op.via);
    if (unknown.length > 0) return Promise.reject(new WsUnknownServerError(what, unknown));
    const expected = new Set(op.via ?? this.servers());
    if (expected.size === 0) return Promise.resolve([]);
    return new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => finish(), timeout + REPLY_GRACE);
      const finish = (): void => {
        clearTimeout(timer);
        this.pending.delete(op.req);
        const answered = p.replies.filter((r) => r.complete).map((r) => r.server);
        const items = p.replies.flatMap((r) => r.items);
        const missing = [...expected].filter((s) => !answered.includes(s));
        if (missing.length === 0) resolve(items);
        else reject(new WsTimeoutError(what, { answered, missing, received: items.length }, items));
      };
      const p: Pending = { expected, replies: [], finish };
      this.pending.set(op.req, p);
      this.sendOp(op);
    });
  }

  /**
   * A front end that closed cleanly will never answer: requests stop waiting for it (it is
   * neither answered nor missing). One that died or became unreachable stays expected, and is
   * named in `missing` when the request times out.
   */
  private leftCleanly(server: string): void {
    for (const p of [...this.pending.values()]) {
      if (!p.expected.has(server) || p.replies.some((r) => r.server === server)) continue;
      p.expected.delete(server);
      if (p.replies.length === p.expected.size) p.finish();
    }
  }

  private onReply(data: unknown): void {
    const reply = readReply(data);
    if (!reply) return;
    const p = this.pending.get(reply.req);
    if (!p?.expected.has(reply.server) || p.replies.some((r) => r.server === reply.server)) return;
    p.replies.push(reply);
    if (p.replies.length === p.expected.size) p.finish();
  }
}

/** A channel with `message.ws`. */
export type WithWs<C> = C & { readonly ws: WsApi };

/**
 * Brings `ws` onto a channel: `withWs(channel).ws.emit(...)`. Idempotent; the channel is
 * returned (not copied), so keep using the same object.
 *
 * @example
 * ```ts
 * const message = withWs(new MessageChannel({ id: "rpc-server-1" }));
 * await message.connect("ws://web-1:3000/sfn-channel");
 * message.ws.emit("greeting", "Hello, World!");
 * message.ws.via("web-server-1").to("SYGJBR5az95_37HhAAAB").emit("greeting", "Hello, World!");
 * ```
 */
export function withWs<C extends ChannelLike>(channel: C): WithWs<C> {
  return extend(channel, "ws", () => new WsApi(channel));
}

/** How an error names the operation: `emit("greeting")`, `socketsJoin()`. */
function whatOf(op: Operation): string {
  switch (op.t) {
    case "emit":
    case "ack":
      return `${op.t === "ack" ? "emitWithAck" : "emit"}(${JSON.stringify(op.ev)})`;
    case "join":
      return "socketsJoin()";
    case "leave":
      return "socketsLeave()";
    case "disconnect":
      return "disconnectSockets()";
    case "fetch":
      return "fetchSockets()";
  }
}
