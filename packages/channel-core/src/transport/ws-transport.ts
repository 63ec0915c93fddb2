import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { CloseCode, type Transport, type TransportConnection, type TransportHandlers, type TransportLimits, type TransportListener } from "./transport.js";
import type { ListenOptions } from "../types.js";

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

class WsConnection implements TransportConnection {
  readonly remote: string;
  private handlers: TransportHandlers | undefined;
  private early: Buffer[] = [];
  private closed: [number, string, Error | undefined] | undefined;
  private error: Error | undefined;

  constructor(private readonly ws: WebSocket, remote: string) {
    this.remote = remote;
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: RawData, isBinary: boolean) => {
      const buf = isBinary ? toBuffer(data) : Buffer.from(toBuffer(data));
      if (this.handlers) this.handlers.message(buf);
      else this.early.push(buf);
    });
    ws.on("error", (err: Error) => {
      this.error ??= err;
    });
    ws.on("close", (code: number, reason: Buffer) => {
      const args: [number, string, Error | undefined] = [code, reason.toString("utf8"), this.error];
      if (this.handlers) this.handlers.close(...args);
      else this.closed = args;
    });
  }

  attach(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const m of early) handlers.message(m);
    if (this.closed) handlers.close(...this.closed);
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

/** The default transport: one WebSocket (`ws`) per link, binary messages, no compression. */
export class WsTransport implements Transport {
  dial(url: string, limits: TransportLimits): Promise<TransportConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        maxPayload: limits.maxFrameSize,
        perMessageDeflate: false,
        handshakeTimeout: limits.openTimeout,
        // Client masking (RFC 6455 §10.3) shields HTTP intermediaries from script-crafted
        // bytes in browsers; a link between services carries no such bytes. A zero mask
        // lets ws skip masking on send and unmasking on receive (a fifth of the CPU).
        generateMask: zeroMask,
      });
      const fail = (err: Error): void => {
        ws.removeAllListeners();
        ws.on("error", () => {});
        ws.terminate();
        reject(err);
      };
      ws.once("error", fail);
      ws.once("unexpected-response", (_req, res) => fail(new Error(`unexpected HTTP ${res.statusCode} from ${url}`)));
      ws.once("close", (code) => fail(new Error(`closed with code ${code} before opening`)));
      ws.once("open", () => {
        ws.removeAllListeners();
        resolve(new WsConnection(ws, url));
      });
    });
  }

  async listen(options: ListenOptions, limits: TransportLimits, onConnection: (conn: TransportConnection) => void): Promise<TransportListener> {
    const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameSize, perMessageDeflate: false, clientTracking: true });
    wss.on("error", () => {});
    const shared = "server" in options;
    const server: Server = shared ? options.server : createServer((_req, res) => res.writeHead(426).end("Upgrade Required"));
    const wantedPath = options.path ?? (shared ? "/sfn-channel" : undefined);

    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      // On a shared server other upgrade handlers (Socket.IO) own the other paths.
      if (wantedPath !== undefined && pathOf(req.url) !== wantedPath) {
        if (!shared) socket.destroy();
        return;
      }
      socket.on("error", () => {});
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(new WsConnection(ws, remoteOf(req))));
    };
    server.on("upgrade", onUpgrade);

    if (!shared) {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.port, options.host ?? "127.0.0.1", () => {
          server.off("error", reject);
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
        return `ws://${host}:${i.port}${path}`;
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
