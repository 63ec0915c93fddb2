import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Server as TlsServer, TLSSocket } from "node:tls";
import { WebSocket, WebSocketServer, type ClientOptions, type RawData } from "ws";
import { ErrorCode, InvalidOptionError, LimitExceededError, ProtocolError, TransportError } from "../errors.js";
import { peerIdsOf } from "./identity.js";
import {
  CloseCode,
  type AdmitAddress,
  type DialOptions,
  type Transport,
  type TransportConnection,
  type TransportHandlers,
  type TransportLimits,
  type TransportListener,
} from "./transport.js";
import type { ListenOptions } from "../types.js";

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Caps passed to `ws` explicitly on both ends. SFN peers never fragment a message and never
 * send WebSocket pings (heartbeats are frames of their own), so fragments and unanswered
 * pongs are capped far below ws's defaults. The options exist since ws 8.23.0
 * (`maxPendingAutoPongs`) and 8.21.1 (`maxFragments`, `maxBufferedChunks`, empty fragments
 * counted); an older ws ignores unknown options silently, so {@link assertWsCaps} refuses it.
 */
const WS_CAPS = {
  maxFragments: 64,
  maxBufferedChunks: 64 * 1024,
  autoPong: true,
  maxPendingAutoPongs: 16,
  allowSynchronousEvents: true,
  closeTimeout: 2000,
} as const;

let wsChecked = false;

/** Throws unless the installed `ws` knows every cap in {@link WS_CAPS}. */
export function assertWsCaps(): void {
  if (wsChecked) return;
  const defaults = new WebSocketServer({ noServer: true }).options as Record<string, unknown>;
  const missing = Object.keys(WS_CAPS).filter((k) => !(k in defaults));
  if (missing.length > 0) {
    throw new TransportError(`the installed "ws" is too old: it lacks ${missing.join(", ")}; @sfn/channel-core needs ws >= 8.23.0`);
  }
  wsChecked = true;
}

/** The raw socket under a WebSocket, counting bytes until the handshake completes. */
class ByteBudget {
  private left: number;
  private lifted = false;
  private readonly onData = (chunk: Buffer): void => {
    // Removing the listener inside ws's own handler of the same chunk does not stop this call
    // (emit iterates over a copy of the listeners): the flag does.
    if (this.lifted) return;
    this.left -= chunk.length;
    if (this.left < 0) {
      this.socket.off("data", this.onData);
      this.exceeded();
      this.socket.destroy();
    }
  };

  constructor(
    private readonly socket: Duplex,
    private readonly budget: number,
    already: number,
    private readonly exceeded: () => void,
  ) {
    this.left = budget - already;
    // Registered after ws's own listener: a chunk that completes the handshake lifts the
    // budget (synchronously, through the message handlers) before it is counted here.
    socket.on("data", this.onData);
  }

  lift(): void {
    this.lifted = true;
    this.socket.off("data", this.onData);
  }

  /**
   * Counts a whole message before it is handed on. ws assembles (and emits) a message inside
   * its own handler of the socket chunk, before `onData` counts that chunk, so a message that
   * alone exceeds the budget is caught here, before anything of it is decoded.
   */
  admits(message: Buffer): boolean {
    // Against the whole budget: the earlier chunks of this message are already counted in `left`.
    if (this.lifted || message.length <= this.budget) return true;
    this.lift();
    this.exceeded();
    this.socket.destroy();
    return false;
  }
}

interface WsConnectionInit {
  remote: string;
  socket: Duplex | undefined;
  preAuthBytes: number;
  head: number;
  peerIds: readonly string[] | undefined;
  /** Deadline for the first message (accepted connections), in ms; 0 for none. */
  helloTimeout: number;
}

class WsConnection implements TransportConnection {
  readonly remote: string;
  readonly peerIds: readonly string[] | undefined;
  private handlers: TransportHandlers | undefined;
  private early: Buffer[] = [];
  private closed: [number, string, Error | undefined] | undefined;
  private error: Error | undefined;
  private readonly budget: ByteBudget | undefined;
  private helloTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    init: WsConnectionInit,
  ) {
    this.remote = init.remote;
    this.peerIds = init.peerIds;
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: RawData, isBinary: boolean) => {
      clearTimeout(this.helloTimer);
      const buf = isBinary ? toBuffer(data) : Buffer.from(toBuffer(data));
      if (this.budget && !this.budget.admits(buf)) return;
      if (this.handlers) this.handlers.message(buf);
      else this.early.push(buf);
    });
    ws.on("error", (err: Error) => {
      this.error ??= err;
    });
    ws.on("close", (code: number, reason: Buffer) => {
      clearTimeout(this.helloTimer);
      this.budget?.lift();
      const args: [number, string, Error | undefined] = [code, reason.toString("utf8"), this.error];
      if (this.handlers) this.handlers.close(...args);
      else this.closed = args;
    });
    if (init.socket && init.preAuthBytes > 0) {
      this.budget = new ByteBudget(init.socket, init.preAuthBytes, init.head, () => {
        this.error ??= new LimitExceededError(`${this.remote} sent more than ${init.preAuthBytes} bytes before completing the handshake`);
      });
    }
    if (init.helloTimeout > 0) {
      // An idle connection holds a handshake slot: it gets a short deadline for its first frame.
      this.helloTimer = setTimeout(() => {
        this.error ??= new ProtocolError(ErrorCode.HANDSHAKE_TIMEOUT, `${this.remote} sent nothing within ${init.helloTimeout} ms`);
        ws.terminate();
      }, init.helloTimeout);
      this.helloTimer.unref();
    }
  }

  attach(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const m of early) handlers.message(m);
    if (this.closed) handlers.close(...this.closed);
  }

  authenticated(): void {
    this.budget?.lift();
  }

  send(data: Buffer, done: (error?: Error) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      done(new Error("connection is not open"));
      return;
    }
    this.ws.send(data, { binary: true, compress: false }, done);
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(code, reason.slice(0, 120));
    // A peer that never answers the close handshake must not hold the socket open.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

function remoteOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`;
}

function pathOf(url: string | undefined): string {
  const q = (url ?? "/").indexOf("?");
  return q === -1 ? (url ?? "/") : (url ?? "/").slice(0, q);
}

/** Service ids of a verified peer certificate on `socket`, or undefined without one. */
function verifiedPeerIds(socket: Duplex | Socket | undefined): string[] | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  return peerIdsOf(cert);
}

/** Refuses TLS settings that cannot apply to `url` (plain `ws://`). */
export function checkDialOptions(url: string, options: DialOptions): void {
  const secure = /^(wss|https):/i.test(url);
  if (options.tls !== undefined && !secure) {
    throw new InvalidOptionError(`tls options were given for ${url}: use a wss:// (or https://) URL, or drop the tls options`);
  }
  if (options.identity && !secure) throw new InvalidOptionError(`identity: true needs a wss:// (or https://) URL (got ${url})`);
  if (options.identity && options.tls?.rejectUnauthorized === false) {
    throw new InvalidOptionError("identity: true needs a verified server certificate: rejectUnauthorized must not be false");
  }
}

/**
 * The default transport: one WebSocket (`ws`) per link, binary messages, no compression;
 * `wss://` with Node's TLS options, and service ids from verified certificates (mutual TLS).
 */
export class WsTransport implements Transport {
  constructor() {
    assertWsCaps();
  }

  dial(url: string, limits: TransportLimits, options: DialOptions = {}): Promise<TransportConnection> {
    return new Promise((resolve, reject) => {
      checkDialOptions(url, options);
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, {
          ...WS_CAPS,
          // @types/ws declares checkServerIdentity wrongly; ws hands these options to tls.connect as they are.
          ...(options.tls as ClientOptions | undefined),
          maxPayload: limits.maxFrameSize,
          perMessageDeflate: false,
          handshakeTimeout: limits.openTimeout,
          // Client masking (RFC 6455 §10.3) shields HTTP intermediaries from script-crafted
          // bytes in browsers; a link between services carries no such bytes. A zero mask
          // lets ws skip masking on send and unmasking on receive (a fifth of the CPU).
          generateMask: zeroMask,
        });
      } catch (error) {
        // ws refuses what no retry can fix (not a URL, another scheme, a fragment): say so now.
        reject(new InvalidOptionError(`cannot dial ${JSON.stringify(url)}: ${(error as Error).message}`, { cause: error }));
        return;
      }
      let socket: Duplex | undefined;
      const fail = (err: Error): void => {
        ws.removeAllListeners();
        ws.on("error", () => {});
        ws.terminate();
        reject(err);
      };
      ws.once("error", fail);
      ws.once("upgrade", (res: IncomingMessage) => {
        socket = res.socket;
      });
      ws.once("unexpected-response", (_req, res) => fail(new Error(`unexpected HTTP ${res.statusCode} from ${url}`)));
      ws.once("close", (code) => fail(new Error(`closed with code ${code} before opening`)));
      ws.once("open", () => {
        ws.removeAllListeners();
        let peerIds: string[] | undefined;
        if (options.identity) {
          peerIds = verifiedPeerIds(socket);
          if (peerIds === undefined) {
            fail(new Error(`${url} presented no verified certificate, and identity: true requires one`));
            return;
          }
        }
        resolve(new WsConnection(ws, { remote: url, socket, preAuthBytes: limits.preAuthBytes ?? 0, head: 0, peerIds, helloTimeout: 0 }));
      });
    });
  }

  async listen(
    options: ListenOptions,
    limits: TransportLimits,
    onConnection: (conn: TransportConnection) => void,
    admit?: AdmitAddress,
  ): Promise<TransportListener> {
    const shared = "server" in options;
    if (shared && "tls" in options && (options as { tls?: unknown }).tls !== undefined) {
      throw new InvalidOptionError("tls cannot be combined with server: configure TLS on the server itself (https.createServer)");
    }
    const tls = shared ? undefined : options.tls;
    const wss = new WebSocketServer({
      ...WS_CAPS,
      noServer: true,
      maxPayload: limits.maxFrameSize,
      perMessageDeflate: false,
      clientTracking: true,
    });
    wss.on("error", () => {});
    const refuse = (_req: IncomingMessage, res: import("node:http").ServerResponse): void =>
      void res.writeHead(426).end("Upgrade Required");
    let server: Server;
    if (shared) server = options.server;
    else if (tls) {
      // Unauthenticated TLS handshakes and slow request headers are bounded like the rest of the handshake.
      server = createHttpsServer({ handshakeTimeout: limits.openTimeout, ...tls }, refuse) as unknown as Server;
    } else server = createServer(refuse);
    // Own port: a connection that has not asked for the WebSocket upgrade within openTimeout is
    // destroyed. Node's HTTP server never times out one that sends nothing, checks the header
    // timeout only every 30 s, and keeps one alive while plain requests come (a file descriptor each).
    const awaitingUpgrade = new WeakMap<Duplex, NodeJS.Timeout>();
    if (!shared) {
      server.headersTimeout = limits.openTimeout;
      server.requestTimeout = limits.openTimeout;
      server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
        const timer = setTimeout(() => socket.destroy(), limits.openTimeout);
        timer.unref();
        awaitingUpgrade.set(socket, timer);
        socket.once("close", () => clearTimeout(timer));
      });
    }
    const secure = server instanceof TlsServer;
    const wantedPath = options.path ?? (shared ? "/sfn-channel" : undefined);

    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      // On a shared server other upgrade handlers (Socket.IO) own the other paths.
      if (wantedPath !== undefined && pathOf(req.url) !== wantedPath) {
        if (!shared) socket.destroy();
        return;
      }
      socket.on("error", () => {});
      const remote = remoteOf(req);
      const verdict = admit?.(remote);
      if (verdict && !verdict.ok) {
        // Refused before any WebSocket or protocol work: an HTTP answer a dialer retries later.
        const seconds = Math.max(1, Math.ceil(verdict.retryAfter / 1000));
        socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${seconds}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      const peerIds = verifiedPeerIds(socket);
      clearTimeout(awaitingUpgrade.get(socket));
      wss.handleUpgrade(req, socket, head, (ws) =>
        onConnection(
          new WsConnection(ws, {
            remote,
            socket,
            preAuthBytes: limits.preAuthBytes ?? 0,
            head: head.length,
            peerIds,
            helloTimeout: limits.helloTimeout ?? 0,
          }),
        ),
      );
    };
    server.on("upgrade", onUpgrade);

    if (!shared) {
      const host = options.host ?? "127.0.0.1";
      await new Promise<void>((resolve, reject) => {
        // EADDRINUSE, EACCES, EADDRNOTAVAIL...: a typed error, the system's in its cause.
        const fail = (error: Error): void =>
          reject(new TransportError(`could not listen on ${host}:${options.port}: ${error.message}`, { cause: error }));
        server.once("error", fail);
        server.listen(options.port, host, () => {
          server.off("error", fail);
          resolve();
        });
      });
    }
    const path = wantedPath ?? "/";
    // A shared server may start listening after this call (the usual order in an app), so
    // the address is read from it when asked for, not waited for here.
    const info = (): AddressInfo | undefined => {
      const a = server.address();
      return a !== null && typeof a === "object" ? a : undefined;
    };
    const address = {
      path,
      get host(): string {
        return info()?.address ?? "";
      },
      get port(): number {
        return info()?.port ?? 0;
      },
      get url(): string {
        const i = info();
        if (!i) return "";
        const host = i.family === "IPv6" ? `[${i.address}]` : i.address;
        return `${secure ? "wss" : "ws"}://${host}:${i.port}${path}`;
      },
    };

    return {
      address,
      close: async () => {
        server.off("upgrade", onUpgrade);
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        if (!shared) {
          server.closeAllConnections?.();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }
      },
    };
  }
}

export { CloseCode };
