import type { ConnectTlsOptions, ListenAddress, ListenOptions } from "../types.js";

/** Close codes a transport reports; the channel maps them to typed errors. */
export const CloseCode = {
  /** Normal close. */
  NORMAL: 1000,
  /** Going away (process shutdown). */
  GOING_AWAY: 1001,
  /** A protocol violation. */
  PROTOCOL: 1002,
  /** A message exceeded the size limit. */
  TOO_LARGE: 1009,
  /** The connection dropped without a close handshake. */
  ABNORMAL: 1006,
} as const;

/** What a transport connection reports to the channel. */
export interface TransportHandlers {
  /** One complete message (one or more frames). */
  message(data: Buffer): void;
  /** The connection is closed; called exactly once. */
  close(code: number, reason: string, error: Error | undefined): void;
}

/** One bidirectional, message-oriented, ordered connection. */
export interface TransportConnection {
  /**
   * Sends one message; `done` runs once the bytes are handed to the OS, or with an error. `data`
   * is lent, not given: it belongs to a pool of batch buffers shared by every link of the process
   * and is overwritten once `done` has run, so a transport must copy what it keeps (or hands to an
   * in-process receiver) before calling `done`.
   */
  send(data: Buffer, done: (error?: Error) => void): void;
  /** Starts an orderly close. */
  close(code: number, reason: string): void;
  /** Drops the connection at once. */
  terminate(): void;
  /** Installs the handlers; messages that arrived earlier are delivered now. */
  attach(handlers: TransportHandlers): void;
  /** Remote address, for logs: `"address:port"` for accepted connections, the URL for dialled ones. */
  readonly remote: string;
  /**
   * Service ids a verified peer certificate names (mutual TLS; see `peerIdsOf`). Undefined when
   * no certificate identity is required; when defined, the handshake must refuse a HELLO whose
   * id is not in it.
   */
  readonly peerIds?: readonly string[];
  /**
   * The handshake is complete: lifts the pre-authentication byte budget. Until then a peer
   * that sends more than `TransportLimits.preAuthBytes` raw bytes is dropped.
   */
  authenticated?(): void;
}

/** A listening endpoint. */
export interface TransportListener {
  /** Where it listens. */
  readonly address: ListenAddress;
  /** Stops accepting; resolves when released (shared HTTP servers stay open). */
  close(): Promise<void>;
}

/** Options every transport operation receives. */
export interface TransportLimits {
  /** Largest message accepted, in bytes. */
  maxFrameSize: number;
  /** Time allowed to open a connection, in ms. */
  openTimeout: number;
  /** Raw bytes a peer may send before `authenticated()`; more drops the socket. 0: no budget. */
  preAuthBytes?: number;
  /** Time an accepted connection has to deliver its first message, in ms. 0: no deadline. */
  helloTimeout?: number;
}

/** Decides, from the remote address alone and before any protocol work, whether a connection may proceed. */
export type AdmitAddress = (address: string) => { ok: true } | { ok: false; retryAfter: number };

/** Per-dial options of a transport (TLS settings and identity checks). */
export interface DialOptions {
  /** TLS options for `wss://` URLs. */
  tls?: ConnectTlsOptions;
  /** Fill `peerIds` from the server's verified certificate. */
  identity?: boolean;
}

/**
 * The seam between the channel and the network. The channel depends only on this
 * interface, so a broker-backed transport can carry the same frames later.
 */
export interface Transport {
  /** Opens a connection to `url`. */
  dial(url: string, limits: TransportLimits, options?: DialOptions): Promise<TransportConnection>;
  /** Accepts connections and hands each to `onConnection`. */
  listen(
    options: ListenOptions,
    limits: TransportLimits,
    onConnection: (conn: TransportConnection) => void,
    admit?: AdmitAddress,
  ): Promise<TransportListener>;
}
