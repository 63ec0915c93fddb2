import createDebug from "debug";
import { createNonce, createProof, proofMatches } from "./auth.js";
import { AuthError, ChannelError, DuplicateIdError, ErrorCode, LimitExceededError, ProtocolError, SlowPeerError, TransportError, errorFromWire } from "./errors.js";
import { FrameType, PROTOCOL_VERSION, type ByeFrame, type ControlFrame, type ErrorFrame, type Frame, type HelloFrame, type ReadyFrame } from "./protocol/frames.js";
import { createDecoder, decodeFrames, encodeControl, writeHeader, type DecodeLimits } from "./protocol/codec.js";
import { CloseCode, type TransportConnection } from "./transport/transport.js";
import type { PeerSession, WindowEntry } from "./peer-session.js";
import type { LinkDownReason } from "./types.js";

const debug = createDebug("sfn:channel:link");

// Bytes handed to the socket but not yet flushed to the OS before writing pauses.
const SOCKET_HIGH_WATER = 1 << 20;
// Largest coalesced write; bigger frames still go out alone.
const MAX_BATCH = 256 * 1024;

/** What a connection needs from the channel that owns it. */
export interface ConnectionHost {
  readonly id: string;
  readonly instance: string;
  readonly secret: Uint8Array | undefined;
  readonly maxFrameSize: number;
  readonly handshakeTimeout: number;
  readonly heartbeatInterval: number;
  readonly heartbeatTimeout: number;
  readonly decodeLimits: DecodeLimits;
  readonly maxControlBytes: number;
  /**
   * Decides, once the peer is verified and before READY is sent, whether it may link:
   * returns the session token and last received sequence held for it, or the refusal.
   */
  admit(conn: Connection, hello: HelloFrame): { token: Uint8Array | null; received: number } | ChannelError;
  /** Both READY frames are exchanged: bind the connection to a session (or refuse it). */
  linkReady(conn: Connection, hello: HelloFrame, ready: ReadyFrame): void;
  /** A frame arrived on an open connection. */
  linkFrame(conn: Connection, session: PeerSession, frame: Frame): void;
  /** The socket has room again after being full. */
  linkWritable(conn: Connection): void;
  /** The connection is gone. */
  linkClosed(conn: Connection, reason: LinkDownReason, error: ChannelError | undefined): void;
  /** The peer at `remote` failed to prove the shared secret (feeds the per-address rate limiter). */
  authFailed?(remote: string): void;
  /** The peer at `remote` proved the shared secret. */
  authSucceeded?(remote: string): void;
}

type State = "handshake" | "open" | "closed";

/**
 * One transport connection: runs the handshake, then carries a session's frames,
 * coalescing everything queued in one tick into a single write and honouring the
 * socket's backpressure.
 */
export class Connection {
  state: State = "handshake";
  session: PeerSession | undefined;
  peer: HelloFrame | undefined;
  /** Session token this side offered in its READY. */
  offeredToken: Uint8Array | null = null;
  readonly nonce = createNonce();

  private readonly decoder = createDecoder();
  private peerVerified = false;
  private readySent = false;
  private control: Buffer[] = [];
  private controlBytes = 0;
  private readonly slabs: Buffer[] = [];
  private inflight = 0;
  private flushScheduled = false;
  private closeReason: LinkDownReason | undefined;
  private closeError: ChannelError | undefined;
  private lastReceived = Date.now();
  // Last time the peer acknowledged frames (or nothing was outstanding).
  private lastProgress = Date.now();
  private lastSent = Date.now();
  private readonly handshakeTimer: NodeJS.Timeout;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: ConnectionHost,
    private readonly transport: TransportConnection,
    readonly direction: "inbound" | "outbound",
    readonly url: string | undefined,
  ) {
    this.handshakeTimer = setTimeout(() => {
      this.fail(new ProtocolError(ErrorCode.HANDSHAKE_TIMEOUT, `handshake with ${transport.remote} did not complete in ${host.handshakeTimeout} ms`));
    }, host.handshakeTimeout);
    this.handshakeTimer.unref();
    // HELLO goes out before any early message from the peer is handled, so it is always first.
    this.sendNow({
      type: FrameType.HELLO,
      version: PROTOCOL_VERSION,
      id: host.id,
      instance: host.instance,
      nonce: this.nonce,
      maxFrameSize: host.maxFrameSize,
      auth: host.secret !== undefined,
    });
    transport.attach({
      message: (data) => this.onMessage(data),
      close: (code, reason, error) => this.onTransportClose(code, reason, error),
    });
  }

  /** Peer id once its HELLO arrived. */
  get peerId(): string | undefined {
    return this.peer?.id;
  }

  /** True if the socket has room for more writes. */
  get writable(): boolean {
    return this.state === "open" && this.inflight < SOCKET_HIGH_WATER;
  }

  /** Marks the connection open for a session and starts heartbeats. */
  open(session: PeerSession): void {
    clearTimeout(this.handshakeTimer);
    this.state = "open";
    this.session = session;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(10, Math.floor(this.host.heartbeatInterval / 2)));
    this.heartbeatTimer.unref();
    this.scheduleFlush();
  }

  /** Queues a control frame for the next flush. */
  sendControl(frame: ControlFrame): void {
    this.sendRaw(encodeControl(frame));
  }

  /** Queues pre-encoded bytes (a control or volatile frame) for the next flush. */
  sendRaw(bytes: Buffer): void {
    if (this.ended) return;
    // A peer that floods PINGs but reads nothing must not make its PONGs pile up here.
    if (this.controlBytes + bytes.length > this.host.maxControlBytes) {
      this.fail(new LimitExceededError(`more than ${this.host.maxControlBytes} bytes of control frames queued for a peer that does not read`, { peer: this.peerId }));
      return;
    }
    this.control.push(bytes);
    this.controlBytes += bytes.length;
    this.scheduleFlush();
  }

  /** The peer acknowledged something: it is reading. */
  noteProgress(): void {
    this.lastProgress = Date.now();
  }

  /** Counts a received sequenced frame and acknowledges in batches. */
  noteReceived(session: PeerSession): void {
    session.unacked++;
    if (session.unacked >= 256) this.queueAck();
    else if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => this.queueAck(), 10);
      this.ackTimer.unref();
    }
  }

  /** Writes queued frames on the next turn of the event loop. */
  scheduleFlush(): void {
    if (this.flushScheduled || this.state === "closed") return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Refuses or ends the link with an error the peer is told about. */
  fail(error: ChannelError): void {
    if (this.state === "closed" || this.closeReason) return;
    debug("%s: link with %s fails: %s", this.host.id, this.peerId ?? this.transport.remote, error.message);
    this.closeReason = "error";
    this.closeError = error;
    this.sendNow({ type: FrameType.ERROR, code: error.code, message: error.message });
    this.transport.close(CloseCode.PROTOCOL, error.code);
  }

  /** Ends the connection; `bye` tells the peer to drop the session ("disconnect") or that this side shuts down ("close"). */
  close(reason: LinkDownReason, bye?: "disconnect" | "close"): void {
    if (this.state === "closed" || this.closeReason) return;
    this.closeReason = reason;
    if (bye) {
      this.flush();
      this.sendNow({ type: FrameType.BYE, reason: bye });
    }
    this.transport.close(bye === "close" ? CloseCode.GOING_AWAY : CloseCode.NORMAL, reason);
  }

  /** Drops the connection without ceremony. */
  terminate(): void {
    this.transport.terminate();
  }

  /** Acknowledges everything received so far at once. */
  queueAck(): void {
    if (this.ackTimer) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
    }
    const s = this.session;
    if (!s || s.unacked === 0) return;
    s.unacked = 0;
    this.sendControl({ type: FrameType.ACK, seq: s.received });
  }

  private sendNow(frame: ControlFrame): void {
    this.transport.send(encodeControl(frame), () => {});
    this.lastSent = Date.now();
  }

  private heartbeat(): void {
    const now = Date.now();
    if (now - this.lastReceived > this.host.heartbeatTimeout) {
      debug("%s: no sign of life from %s for %d ms", this.host.id, this.peerId, now - this.lastReceived);
      this.closeReason = "heartbeat-timeout";
      this.transport.terminate();
      return;
    }
    const s = this.session;
    if (s && s.sentIndex > 0 && now - this.lastProgress > this.host.heartbeatTimeout) {
      // It answers PINGs or talks, but acknowledges nothing: it does not read what it is sent.
      this.closeReason = "stalled";
      this.closeError = new SlowPeerError(`peer "${s.id}" acknowledged nothing for ${now - this.lastProgress} ms with ${s.sentIndex} frames outstanding`, { peer: s.id });
      this.transport.terminate();
      return;
    }
    if (now - this.lastSent >= this.host.heartbeatInterval) this.sendControl({ type: FrameType.PING });
  }

  private flush(): void {
    while (this.state !== "closed" && this.inflight < SOCKET_HIGH_WATER) {
      const session = this.state === "open" ? this.session : undefined;
      const limit = Math.min(MAX_BATCH, session?.peerMaxFrameSize || MAX_BATCH);
      let size = 0;
      let nControl = 0;
      for (const c of this.control) {
        if (nControl > 0 && size + c.length > limit) break;
        size += c.length;
        nControl++;
      }
      const entries: WindowEntry[] = [];
      if (session?.sentIndex === 0 && !session.allSent) this.lastProgress = Date.now();
      if (session) {
        for (let e = session.nextUnsent(); e !== undefined; e = session.nextUnsent()) {
          if ((nControl > 0 || entries.length > 0) && size + e.size > limit) break;
          entries.push(e);
          size += e.size;
          session.sentIndex++;
        }
      }
      if (size === 0) return;
      // Batches are written into recycled buffers: allocating fresh 256 KiB buffers at
      // hundreds of batches a second costs more than the copying itself.
      const slab = size <= MAX_BATCH ? (this.slabs.pop() ?? Buffer.allocUnsafe(MAX_BATCH)) : undefined;
      const out = slab ? slab.subarray(0, size) : Buffer.allocUnsafe(size);
      let offset = 0;
      for (let i = 0; i < nControl; i++) {
        offset += (this.control[i] as Buffer).copy(out, offset);
        this.controlBytes -= (this.control[i] as Buffer).length;
      }
      this.control = nControl === this.control.length ? [] : this.control.slice(nControl);
      for (const e of entries) {
        offset = writeHeader(out, offset, e.type, e.seq);
        offset += e.body.copy(out, offset);
      }
      this.inflight += size;
      this.lastSent = Date.now();
      this.transport.send(out, () => {
        // The transport is done with the bytes once this runs.
        if (slab && this.slabs.length < 4) this.slabs.push(slab);
        const wasFull = this.inflight >= SOCKET_HIGH_WATER;
        this.inflight -= size;
        if (this.inflight < SOCKET_HIGH_WATER / 2) this.scheduleFlush();
        if (wasFull && this.inflight < SOCKET_HIGH_WATER) this.host.linkWritable(this);
      });
    }
  }

  /** True once closed or closing; later frames are ignored. */
  private get ended(): boolean {
    return this.state === "closed" || this.closeReason !== undefined;
  }

  private onMessage(data: Buffer): void {
    if (this.ended) return;
    this.lastReceived = Date.now();
    let frames: Frame[];
    try {
      frames = decodeFrames(this.decoder, data, this.host.decodeLimits);
    } catch (error) {
      this.fail(error instanceof ChannelError ? error : new ProtocolError(ErrorCode.MALFORMED_FRAME, String(error), { cause: error }));
      return;
    }
    for (const frame of frames) {
      if (this.ended) return;
      try {
        if (frame.type === FrameType.ERROR || frame.type === FrameType.BYE) this.onPeerEnd(frame);
        else if (this.state === "handshake") this.onHandshakeFrame(frame);
        else this.onOpenFrame(frame);
      } catch (error) {
        this.fail(error instanceof ChannelError ? error : new ProtocolError(ErrorCode.MALFORMED_FRAME, String(error), { cause: error }));
        return;
      }
    }
    if (this.session && this.session.unacked >= 256) this.queueAck();
  }

  /** The peer ends the link, in any state: with a refusal or error, or saying goodbye. */
  private onPeerEnd(frame: ErrorFrame | ByeFrame): void {
    if (frame.type === FrameType.ERROR) {
      this.closeReason = "error";
      this.closeError = errorFromWire(frame.code, frame.message, this.peerId);
    } else {
      this.closeReason = frame.reason === "disconnect" ? "peer-disconnected" : "peer-closed";
    }
    this.transport.close(CloseCode.NORMAL, frame.type === FrameType.ERROR ? "peer error" : "bye");
  }

  private onOpenFrame(frame: Frame): void {
    const session = this.session as PeerSession;
    switch (frame.type) {
      case FrameType.PING:
        this.sendControl({ type: FrameType.PONG });
        return;
      case FrameType.PONG:
        return;
      case FrameType.HELLO:
      case FrameType.AUTH:
      case FrameType.READY:
        throw new ProtocolError(ErrorCode.MALFORMED_FRAME, `unexpected handshake frame ${frame.type} on an open link`);
      default:
        this.host.linkFrame(this, session, frame);
    }
  }

  private onHandshakeFrame(frame: Frame): void {
    const host = this.host;
    switch (frame.type) {
      case FrameType.HELLO: {
        if (this.peer) throw new ProtocolError(ErrorCode.MALFORMED_FRAME, "second HELLO in one handshake");
        if (frame.version !== PROTOCOL_VERSION) {
          throw new ProtocolError(ErrorCode.PROTOCOL_VERSION, `protocol version ${frame.version} is not supported (this side speaks ${PROTOCOL_VERSION})`);
        }
        this.peer = frame;
        if (frame.id === host.id) throw new DuplicateIdError(`service id "${frame.id}" is this service's own id`);
        if (host.secret && !frame.auth) throw new AuthError(ErrorCode.AUTH_REQUIRED, `service "${host.id}" requires a shared secret and "${frame.id}" has none`);
        if (!host.secret && frame.auth) throw new AuthError(ErrorCode.AUTH_REQUIRED, `service "${frame.id}" requires a shared secret and "${host.id}" has none`);
        if (host.secret) {
          this.sendNow({ type: FrameType.AUTH, proof: createProof(host.secret, host.id, frame.id, frame.nonce, this.nonce) });
        } else {
          this.peerVerified = true;
          this.sendReady();
        }
        return;
      }
      case FrameType.AUTH: {
        const peer = this.peer;
        if (!peer || !host.secret || this.peerVerified) throw new ProtocolError(ErrorCode.MALFORMED_FRAME, "unexpected AUTH frame");
        const expected = createProof(host.secret, peer.id, host.id, this.nonce, peer.nonce);
        if (!proofMatches(expected, frame.proof)) throw new AuthError(ErrorCode.AUTH_FAILED, `service "${peer.id}" did not prove knowledge of the shared secret`);
        this.peerVerified = true;
        this.sendReady();
        return;
      }
      case FrameType.READY: {
        if (!this.peer || !this.peerVerified || !this.readySent) throw new ProtocolError(ErrorCode.MALFORMED_FRAME, "READY before the handshake was verified");
        this.host.linkReady(this, this.peer, frame);
        return;
      }
      default:
        throw new ProtocolError(ErrorCode.MALFORMED_FRAME, `frame type ${frame.type} before the handshake completed`);
    }
  }

  private sendReady(): void {
    const peer = this.peer as HelloFrame;
    const hint = this.host.admit(this, peer);
    if (hint instanceof ChannelError) throw hint;
    this.offeredToken = hint.token;
    this.readySent = true;
    this.sendNow({ type: FrameType.READY, session: hint.token, received: hint.received });
  }

  private onTransportClose(code: number, reason: string, error: Error | undefined): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    clearTimeout(this.handshakeTimer);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.ackTimer);
    this.control = [];
    this.controlBytes = 0;
    let why = this.closeReason;
    let err = this.closeError;
    if (!why) {
      const wsCode = (error as { code?: string } | undefined)?.code;
      if (error instanceof ChannelError) {
        // The transport ended it for a reason of its own (pre-auth byte budget, HELLO deadline).
        why = "error";
        err = error;
      } else if (code === CloseCode.TOO_LARGE || wsCode === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        why = "error";
        err = new ProtocolError(ErrorCode.FRAME_TOO_LARGE, `a message from ${this.peerId ?? this.transport.remote} exceeded maxFrameSize (${this.host.maxFrameSize} bytes)`, { cause: error, peer: this.peerId });
      } else if (typeof wsCode === "string" && wsCode.startsWith("WS_ERR_")) {
        why = "error";
        err = new ProtocolError(ErrorCode.MALFORMED_FRAME, `invalid WebSocket data from ${this.peerId ?? this.transport.remote}: ${error?.message}`, { cause: error, peer: this.peerId });
      } else if (!wasOpen && this.peer === undefined && error) {
        why = "transport";
        err = new TransportError(`connection to ${this.transport.remote} failed: ${error.message}`, { cause: error });
      } else {
        why = "transport";
        err = error ? new TransportError(`link to ${this.peerId ?? this.transport.remote} failed: ${error.message}`, { cause: error, peer: this.peerId }) : undefined;
        debug("%s: transport to %s closed (%d %s)", this.host.id, this.peerId ?? this.transport.remote, code, reason);
      }
    }
    if (err && err.peer === undefined && this.peerId !== undefined) Object.defineProperty(err, "peer", { value: this.peerId });
    this.host.linkClosed(this, why, err);
  }
}
