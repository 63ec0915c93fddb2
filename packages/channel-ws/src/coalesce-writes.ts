import type { SocketIoServer } from "./front-end.js";

/** The part of a Node `net.Socket` coalescing uses. */
interface NetSocketShape {
  cork(): void;
  uncork(): void;
}

/** The part of an engine.io `Socket` coalescing uses (its WebSocket transport and that one's `ws` socket). */
interface EngineSocketShape {
  readonly transport?: { readonly name?: string; readonly socket?: { readonly _socket?: Partial<NetSocketShape> } };
}

/** The part of engine.io's `Server` (`io.engine`) coalescing uses: its `flush` and `drain` events. */
interface EngineShape {
  on(event: "flush" | "drain", listener: (socket: EngineSocketShape, buffer?: readonly unknown[]) => void): unknown;
  off(event: "flush" | "drain", listener: (socket: EngineSocketShape, buffer?: readonly unknown[]) => void): unknown;
}

/** The TCP socket under a client's WebSocket transport, if it has one that can be corked. */
function netSocketOf(socket: EngineSocketShape): NetSocketShape | undefined {
  const transport = socket.transport;
  if (transport?.name !== "websocket") return undefined;
  const raw = transport.socket?._socket;
  return typeof raw?.cork === "function" && typeof raw.uncork === "function" ? (raw as NetSocketShape) : undefined;
}

/**
 * Sends the packets engine.io flushes to a client at once in one system call. When several
 * packets wait for the same client (operations that arrived together in one link frame, or
 * faster than the client's previous write completed), engine.io hands them to its WebSocket
 * transport in one flush, and the transport writes each as its own WebSocket frame: one `writev`
 * per packet per client, which is most of a front end's CPU under load (Socket.IO's fan-out to
 * 500 clients is 60% `writev` in a profile). Corking the client's TCP socket from engine.io's
 * `flush` event to its `drain` event (both emitted around the same synchronous write) sends the
 * frames together; a single packet, the common case, is written as before. Nothing is delayed:
 * the socket is uncorked before the flush returns.
 *
 * Works with engine.io 6's WebSocket transport; with any other transport, or if the engine's
 * shape differs, it does nothing. Returns the function that removes it, or undefined if the
 * server has no engine yet (a `Server` not attached to an HTTP server).
 */
export function coalesceWrites(io: SocketIoServer): (() => void) | undefined {
  const engine = (io as { readonly engine?: Partial<EngineShape> }).engine;
  if (typeof engine?.on !== "function" || typeof engine.off !== "function") return undefined;
  const e = engine as EngineShape;
  const corked = new Map<EngineSocketShape, NetSocketShape>();
  const release = (socket: EngineSocketShape): void => {
    const net = corked.get(socket);
    if (!net) return;
    corked.delete(socket);
    net.uncork();
  };
  // Should a transport throw between `flush` and `drain`, nothing stays corked past this tick.
  const releaseAll = (): void => {
    for (const socket of [...corked.keys()]) release(socket);
  };
  const onFlush = (socket: EngineSocketShape, buffer?: readonly unknown[]): void => {
    if (buffer === undefined || buffer.length < 2 || corked.has(socket)) return;
    const net = netSocketOf(socket);
    if (!net) return;
    net.cork();
    if (corked.size === 0) process.nextTick(releaseAll);
    corked.set(socket, net);
  };
  e.on("flush", onFlush);
  e.on("drain", release);
  return () => {
    e.off("flush", onFlush);
    e.off("drain", release);
    releaseAll();
  };
}
