import { Buffer } from "node:buffer";
import createDebug from "debug";
import { authProof, createEphemeral, createNonce, proofMatches, resumeProof, sessionKey, transcriptHash, type Ephemeral } from "./auth.js";
import {
  AuthError,
  ChannelError,
  DuplicateIdError,
  ErrorCode,
  LimitExceededError,
  ProtocolError,
  SlowPeerError,
  TransportError,
  errorFromWire,
} from "./errors.js";
import {
  FrameType,
  PROTOCOL_VERSION,
  Role,
  type AuthFrame,
  type ByeFrame,
  type ControlFrame,
  type ErrorFrame,
  type Frame,
  type HelloFrame,
  type ReadyFrame,
  type RoleValue,
} from "./protocol/frames.js";
import { createDecoder, decodeEach, encodeControl, type DecodeLimits } from "./protocol/codec.js";
import type { ValueLimits } from "./protocol/value-guard.js";
import { CloseCode, type TransportConnection } from "./transport/transport.js";
import type { PeerSession } from "./peer-session.js";
import type { LinkDownReason } from "./types.js";

const debug = createDebug("sfn:channel:link");

// Bytes handed to the socket but not yet flushed to the OS before writing pauses.
const SOCKET_HIGH_WATER = 1 << 20;
// Largest coalesced write; bigger frames still go out alone.
const MAX_BATCH = 256 * 1024;
// Batch buffers, recycled once the transport is done with them. Shared by every connection of
// the process (at most 4 MiB pooled): buffers per link would hold 256 KiB or more per idle link.
const batchSlabs: Buffer[] = [];
const MAX_POOLED_SLABS = 16;
/** Received frames that are acknowledged at once, whatever the delay. */
const ACK_EVERY_FRAMES = 256;
/** Received bytes (of messages with sequenced frames) acknowledged at once. */
const ACK_EVERY_BYTES = 64 * 1024;
/** Most time (ms) a received frame waits for its acknowledgement, unless the peer asks sooner. */
const ACK_DELAY = 200;
const PING = encodeControl({ type: FrameType.PING });
// Handshake frames (HELLO, AUTH, READY, ERROR, BYE) are flat arrays of scalars: until the link
// is open a message with nested values, records or bigints is refused before it is decoded
// (msgpackr compiles a reader per record shape: milliseconds of CPU per unauthenticated message).
const HANDSHAKE_VALUES: ValueLimits = { maxDepth: 1, maxBigIntBytes: 0, maxRecordShapeCost: 0 };
// Codes that describe this side's own state, never a peer's refusal: from the wire they would
// pose as a local subscriber failure (a process warning) or a throttling decision.
const LOCAL_CODES: ReadonlySet<string> = new Set([
  ErrorCode.SUBSCRIBER,
  ErrorCode.AUTH_THROTTLED,
  ErrorCode.CLOSED,
  ErrorCode.CONNECT,
  ErrorCode.INVALID_OPTION,
]);

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
  /** The session this side holds for `peer`, if any: a dialer offers to resume it in its READY. */
  resumable(peer: string): { key: Uint8Array; received: number } | undefined;
  /**
   * The verified peer's READY arrived: bind the connection to a session, or refuse it. For an
   * inbound connection the host answers with {@link Connection.sendReady} before opening it.
   */
  linkReady(conn: Connection, ready: ReadyFrame): void;
  /** A frame arrived on an open connection. */
  linkFrame(conn: Connection, session: PeerSession, frame: Frame): void;
  /** The socket has room again after being full. */
  linkWritable(conn: Connection): void;
  /** The connection is gone. */
  linkClosed(conn: Connection, reason: LinkDownReason, error: ChannelError | undefined): void;
  /**
   * An accepted connection from `remote` ended with an error before the peer proved itself: a
   * failed proof (of the shared secret, of the identity its certificate names, of a session it
   * claimed) or any other failed handshake (feeds the per-address rate limiter).
   */
  handshakeFailed?(remote: string): void;
  /** The peer at `remote` proved the shared secret. */
  authSucceeded?(remote: string): void;
}

type State = "handshake" | "open" | "closed";
/** Handshake progress: waiting for the peer's HELLO, for the AUTH proofs, for the peer's READY. */
type Step = "hello" | "auth" | "ready";

/**
 * One transport connection: runs the handshake (docs/protocol.md), then carries a session's
 * frames, coalescing everything queued in one tick into a single write and honouring the
 * socket's backpressure.
 */
export class Connection {
  state: State = "handshake";
  session: PeerSession | undefined;
  /** The peer's HELLO, once it arrived. */
  peer: HelloFrame | undefined;
  /** This side's role: the dialer speaks first and proves first. */
  readonly role: RoleValue;
  /** Dialer: the session key whose possession this side's READY proved (null: offered no resume). */
  offeredKey: Uint8Array | null = null;
  /** Key of a new session started on this connection; set once the peer's READY arrived. */
  key: Uint8Array | undefined;
  readonly nonce = createNonce();
  /** Bytes of volatile frames handed to this connection in the current tick (kept by the mesh's volatile sender). */
  volatileBytes = 0;

  private readonly decoder = createDecoder();
  private step: Step = "hello";
  private ephemeral_: Ephemeral | undefined;
  private ownHello: Buffer | undefined;
  private transcript: Buffer | undefined;
  private control: Buffer[] = [];
  private controlBytes = 0;
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
  // Bytes of received messages that carried frames not acknowledged yet.
  private unackedBytes = 0;
  // A PING is due after the frames queued now (requestAck).
  private ackRequested = false;

  constructor(
    private readonly host: ConnectionHost,
    private readonly transport: TransportConnection,
    readonly direction: "inbound" | "outbound",
    readonly url: string | undefined,
  ) {
    this.handshakeTimer = setTimeout(() => {
      this.fail(
        new ProtocolError(
          ErrorCode.HANDSHAKE_TIMEOUT,
          `handshake with ${transport.remote} did not complete in ${host.handshakeTimeout} ms`,
        ),
      );
    }, host.handshakeTimeout);
    this.handshakeTimer.unref();
    this.role = direction === "outbound" ? Role.DIALER : Role.ACCEPTOR;
    // The dialer speaks first; the acceptor answers only a valid HELLO.
    if (this.role === Role.DIALER) this.sendHello();
    transport.attach({
      message: (data) => this.onMessage(data),
      close: (code, reason, error) => this.onTransportClose(code, reason, error),
    });
  }

  /** Peer id once its HELLO arrived. */
  get peerId(): string | undefined {
    return this.peer?.id;
  }

  /** True once the peer proved the secret (or none is used) and READY may be exchanged. */
  get peerVerified(): boolean {
    return this.step === "ready";
  }

  /** Peer id once the peer proved itself; an unverified HELLO's claim is not trusted for anything. */
  get verifiedPeerId(): string | undefined {
    return this.peerVerified ? this.peer?.id : undefined;
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
      this.fail(
        new LimitExceededError(`more than ${this.host.maxControlBytes} bytes of control frames queued for a peer that does not read`, {
          peer: this.peerId,
        }),
      );
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

  /**
   * Counts a received sequenced frame and acknowledges in batches: at once after
   * {@link ACK_EVERY_FRAMES} frames or {@link ACK_EVERY_BYTES} bytes, else {@link ACK_DELAY} ms
   * after the first unacknowledged one, or when the peer asks (a PING). An acknowledgement
   * costs the receiver a timer, a write and a system call, and the sender a read: at a few
   * thousand messages a second, one every 10 ms was a tenth of the receiver's CPU per message.
   */
  noteReceived(session: PeerSession): void {
    if (session.noteUnacked() >= ACK_EVERY_FRAMES) this.queueAck();
    else if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => this.queueAck(), ACK_DELAY);
      this.ackTimer.unref();
    }
  }

  /**
   * Asks the peer to acknowledge what it has received now rather than after its delay: a
   * PING after the frames queued so far (answered with an ACK before the PONG). For a sender
   * whose window just passed half a cap, and for `close()` waiting for acknowledgements.
   */
  requestAck(): void {
    if (this.state !== "open" || this.ackRequested) return;
    this.ackRequested = true;
    this.scheduleFlush();
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

  /** Refuses or ends the link with an error the peer is told about; `report: false` keeps it out of the `error` event. */
  fail(error: ChannelError, report = true): void {
    if (this.state === "closed" || this.closeReason) return;
    debug("%s: link with %s fails: %s", this.host.id, this.peerId ?? this.transport.remote, error.message);
    this.closeReason = "error";
    this.closeError = report ? error : undefined;
    this.sendNow({ type: FrameType.ERROR, code: error.code, message: error.message });
    this.transport.close(CloseCode.PROTOCOL, error.code);
  }

  /**
   * Ends the connection; `bye` tells the peer to drop the session ("disconnect"), that this
   * side shuts down ("close"), or that another connection carries the link ("superseded").
   */
  close(reason: LinkDownReason, bye?: "disconnect" | "close" | "superseded"): void {
    if (this.state === "closed" || this.closeReason) return;
    // What arrived is acknowledged before the goodbye: the peer must not count it as undelivered.
    if (bye) this.queueAck();
    this.closeReason = reason;
    if (bye) {
      this.flush();
      // Control frames a backed-up socket had no room for (that acknowledgement among them) go
      // now, written directly as the goodbye is: it must not overtake them.
      for (const c of this.control) this.sendBytes(c);
      this.control = [];
      this.controlBytes = 0;
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
    this.unackedBytes = 0;
    const seq = this.session?.takeAck();
    if (seq === undefined) return;
    this.sendControl({ type: FrameType.ACK, seq });
  }

  private sendNow(frame: ControlFrame): void {
    this.sendBytes(encodeControl(frame));
  }

  private sendBytes(bytes: Buffer): void {
    this.transport.send(bytes, () => {});
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
      this.closeError = new SlowPeerError(
        `peer "${s.id}" acknowledged nothing for ${now - this.lastProgress} ms with ${s.sentIndex} frames outstanding`,
        { peer: s.id },
      );
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
      let nEntries = 0;
      if (session?.sentIndex === 0 && !session.allSent) this.lastProgress = Date.now();
      if (session) {
        for (let e = session.unsentSize(0); e >= 0; e = session.unsentSize(nEntries)) {
          if ((nControl > 0 || nEntries > 0) && size + e > limit) break;
          nEntries++;
          size += e;
        }
      }
      if (size === 0) {
        if (!this.ackRequested) return;
        // Everything queued is written: the request goes after it, so its answer covers it all.
        this.ackRequested = false;
        this.control.push(PING);
        this.controlBytes += PING.length;
        continue;
      }
      // Batches are written into recycled buffers: allocating fresh 256 KiB buffers at
      // hundreds of batches a second costs more than the copying itself.
      const slab = size <= MAX_BATCH ? (batchSlabs.pop() ?? Buffer.allocUnsafe(MAX_BATCH)) : undefined;
      const out = slab ? slab.subarray(0, size) : Buffer.allocUnsafe(size);
      let offset = 0;
      for (let i = 0; i < nControl; i++) {
        const c = this.control[i] as Buffer;
        out.set(c, offset);
        offset += c.length;
        this.controlBytes -= c.length;
      }
      this.control = nControl === this.control.length ? [] : this.control.slice(nControl);
      if (session && nEntries > 0) session.writeUnsent(out, offset, nEntries);
      this.inflight += size;
      this.lastSent = Date.now();
      this.transport.send(out, () => {
        // The transport is done with the bytes once this runs.
        if (slab && batchSlabs.length < MAX_POOLED_SLABS) batchSlabs.push(slab);
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
    if (this.state === "handshake") {
      // Until the link is open every message carries exactly one frame: nothing after a
      // frame is decoded before that frame is checked, and a HELLO's bytes are the message.
      const limits = { ...this.host.decodeLimits, values: HANDSHAKE_VALUES };
      const { frames, end, error } = decodeEach(this.decoder, data, limits, 1);
      const frame = frames[0];
      if (error || !frame) this.fail(error ?? new ProtocolError(ErrorCode.MALFORMED_FRAME, "empty message"));
      else if (end !== data.length)
        this.fail(new ProtocolError(ErrorCode.MALFORMED_FRAME, "a handshake message must carry exactly one frame"));
      else this.handle(frame, data);
      return;
    }
    const { frames, error } = decodeEach(this.decoder, data, this.host.decodeLimits);
    for (const frame of frames) {
      if (this.ended) return;
      if (!this.handle(frame, data)) return;
    }
    if (error) {
      this.fail(error);
      return;
    }
    // noteReceived acknowledged at ACK_EVERY_FRAMES; bytes are counted per message.
    if (this.session && this.session.unacked > 0 && (this.unackedBytes += data.length) >= ACK_EVERY_BYTES) this.queueAck();
  }

  /** Handles one frame; false if it ended the connection. */
  private handle(frame: Frame, message: Buffer): boolean {
    try {
      if (frame.type === FrameType.ERROR || frame.type === FrameType.BYE) this.onPeerEnd(frame);
      else if (this.state === "handshake") this.onHandshakeFrame(frame, message);
      else this.onOpenFrame(frame);
      return true;
    } catch (error) {
      this.fail(error instanceof ChannelError ? error : new ProtocolError(ErrorCode.MALFORMED_FRAME, String(error), { cause: error }));
      return false;
    }
  }

  /** The peer ends the link, in any state: with a refusal or error, or saying goodbye. */
  private onPeerEnd(frame: ErrorFrame | ByeFrame): void {
    if (frame.type === FrameType.ERROR) {
      this.closeReason = "error";
      const code = LOCAL_CODES.has(frame.code) ? ErrorCode.MALFORMED_FRAME : frame.code;
      this.closeError = errorFromWire(code, frame.message, this.peerId);
    } else if (!this.peerVerified) {
      // Only a peer that proved itself may end the session or steer the dialer: from anyone
      // else (whoever answers at a dialled URL) a BYE is a plain close, and the dialer retries.
      this.closeReason = "peer-closed";
    } else {
      this.closeReason = frame.reason === "disconnect" ? "peer-disconnected" : frame.reason === "superseded" ? "superseded" : "peer-closed";
    }
    this.transport.close(CloseCode.NORMAL, frame.type === FrameType.ERROR ? "peer error" : "bye");
  }

  private onOpenFrame(frame: Frame): void {
    const session = this.session as PeerSession;
    switch (frame.type) {
      case FrameType.PING:
        // A PING also asks for what is not acknowledged yet (see requestAck).
        this.queueAck();
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

  private onHandshakeFrame(frame: Frame, message: Buffer): void {
    switch (frame.type) {
      case FrameType.HELLO:
        return this.onHello(frame, message);
      case FrameType.AUTH:
        return this.onAuth(frame);
      case FrameType.READY:
        return this.onReady(frame);
      default:
        throw new ProtocolError(ErrorCode.MALFORMED_FRAME, `frame type ${frame.type} before the handshake completed`);
    }
  }

  /** The role the peer must have on this connection. */
  private get peerRole(): RoleValue {
    return this.role === Role.DIALER ? Role.ACCEPTOR : Role.DIALER;
  }

  private get ephemeral(): Ephemeral {
    this.ephemeral_ ??= createEphemeral();
    return this.ephemeral_;
  }

  private sendHello(): void {
    const host = this.host;
    this.ownHello = encodeControl({
      type: FrameType.HELLO,
      version: PROTOCOL_VERSION,
      role: this.role,
      id: host.id,
      nonce: this.nonce,
      key: this.ephemeral.publicKey,
      maxFrameSize: host.maxFrameSize,
      auth: host.secret !== undefined,
    });
    this.sendBytes(this.ownHello);
  }

  private onHello(frame: HelloFrame, message: Buffer): void {
    const host = this.host;
    if (this.peer || this.step !== "hello") throw new ProtocolError(ErrorCode.MALFORMED_FRAME, "second HELLO in one handshake");
    // A HELLO of the wrong role, or carrying this side's own nonce or key, is a reflected or
    // relayed handshake: no proof could match it anyway; refuse it at once.
    if (frame.role !== this.peerRole) {
      throw new AuthError(
        ErrorCode.AUTH_FAILED,
        `${frame.role === Role.DIALER ? "a dialer's" : "an acceptor's"} HELLO arrived where the peer is the ${this.role === Role.DIALER ? "acceptor" : "dialer"} (reflected or relayed handshake)`,
      );
    }
    this.peer = frame;
    if (frame.id === host.id) throw new DuplicateIdError(`service id "${frame.id}" is this service's own id`);
    if (proofMatches(frame.nonce, this.nonce) || proofMatches(frame.key, this.ephemeral.publicKey)) {
      throw new AuthError(ErrorCode.AUTH_FAILED, `service "${frame.id}" sent back this side's own nonce or key (reflected handshake)`);
    }
    const proven = this.transport.peerIds;
    if (proven !== undefined && !proven.includes(frame.id)) {
      const names = proven.map((p) => `"${p}"`).join(", ") || "no service id";
      throw new AuthError(ErrorCode.IDENTITY, `the certificate of the peer names ${names}, not "${frame.id}"`);
    }
    if (host.secret && !frame.auth)
      throw new AuthError(ErrorCode.AUTH_REQUIRED, `service "${host.id}" requires a shared secret and "${frame.id}" has none`);
    if (!host.secret && frame.auth)
      throw new AuthError(ErrorCode.AUTH_REQUIRED, `service "${frame.id}" requires a shared secret and "${host.id}" has none`);
    if (this.role === Role.ACCEPTOR) {
      this.sendHello();
      this.transcript = transcriptHash(message, this.ownHello as Buffer);
    } else {
      this.transcript = transcriptHash(this.ownHello as Buffer, message);
    }
    if (host.secret) {
      this.step = "auth";
      // The dialer proves first; the acceptor proves only once it has verified the dialer.
      if (this.role === Role.DIALER) this.sendNow({ type: FrameType.AUTH, proof: authProof(host.secret, Role.DIALER, this.transcript) });
    } else {
      this.peerVerifiedNow();
    }
  }

  private onAuth(frame: AuthFrame): void {
    const host = this.host;
    const peer = this.peer;
    if (!peer || !host.secret || this.step !== "auth") throw new ProtocolError(ErrorCode.MALFORMED_FRAME, "unexpected AUTH frame");
    const transcript = this.transcript as Buffer;
    if (!proofMatches(authProof(host.secret, this.peerRole, transcript), frame.proof)) {
      throw new AuthError(ErrorCode.AUTH_FAILED, `service "${peer.id}" did not prove knowledge of the shared secret`);
    }
    host.authSucceeded?.(this.transport.remote);
    if (this.role === Role.ACCEPTOR) this.sendNow({ type: FrameType.AUTH, proof: authProof(host.secret, Role.ACCEPTOR, transcript) });
    this.peerVerifiedNow();
  }

  /** The peer proved the secret (or none is used): the dialer now sends READY, the acceptor waits for it. */
  private peerVerifiedNow(): void {
    this.step = "ready";
    if (this.role !== Role.DIALER) return;
    const host = this.host;
    const offer = host.resumable((this.peer as HelloFrame).id);
    this.offeredKey = offer?.key ?? null;
    const received = offer?.received ?? 0;
    const resume = offer ? resumeProof(offer.key, Role.DIALER, this.transcript as Buffer, host.instance, received) : null;
    this.sendNow({ type: FrameType.READY, instance: host.instance, resume, received });
  }

  private onReady(frame: ReadyFrame): void {
    const peer = this.peer;
    if (peer && this.step === "auth")
      throw new AuthError(ErrorCode.AUTH_FAILED, `service "${peer.id}" sent READY without proving knowledge of the shared secret`);
    if (!peer || this.step !== "ready" || this.key)
      throw new ProtocolError(ErrorCode.MALFORMED_FRAME, "READY before the handshake was verified");
    if (this.role === Role.DIALER && frame.resume !== null) {
      // The acceptor resumes only a session whose key this side proved: it must prove it too.
      if (
        !this.offeredKey ||
        !proofMatches(resumeProof(this.offeredKey, Role.ACCEPTOR, this.transcript as Buffer, frame.instance, frame.received), frame.resume)
      ) {
        throw new AuthError(ErrorCode.AUTH_FAILED, `service "${peer.id}" claimed a session it cannot prove`);
      }
    }
    try {
      this.key = sessionKey(this.host.secret, this.transcript as Buffer, this.ephemeral, peer.key);
    } catch (cause) {
      throw new ProtocolError(ErrorCode.MALFORMED_FRAME, `service "${peer.id}" sent an unusable X25519 key`, { cause });
    }
    this.host.linkReady(this, frame);
  }

  /** Acceptor: true if the dialer's READY proves possession of `key` on this connection. */
  resumeProven(key: Uint8Array, ready: ReadyFrame): boolean {
    const transcript = this.transcript;
    return (
      transcript !== undefined &&
      ready.resume !== null &&
      proofMatches(resumeProof(key, this.peerRole, transcript, ready.instance, ready.received), ready.resume)
    );
  }

  /** Acceptor: answers the dialer's READY, proving `key` (the resumed session's) or null for a new session. */
  sendReady(key: Uint8Array | null, received: number): void {
    const instance = this.host.instance;
    const resume = key ? resumeProof(key, Role.ACCEPTOR, this.transcript as Buffer, instance, received) : null;
    this.sendNow({ type: FrameType.READY, instance, resume, received });
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
      } else if (wsCode === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        why = "error";
        err = new ProtocolError(
          ErrorCode.FRAME_TOO_LARGE,
          `a message from ${this.peerId ?? this.transport.remote} exceeded maxFrameSize (${this.host.maxFrameSize} bytes)`,
          { cause: error, peer: this.peerId },
        );
      } else if (code === CloseCode.TOO_LARGE) {
        // The peer closed the link because a message from this side exceeded its limit.
        why = "error";
        const limit = this.session?.peerMaxFrameSize || this.peer?.maxFrameSize;
        err = new ProtocolError(
          ErrorCode.FRAME_TOO_LARGE,
          `${this.peerId ?? this.transport.remote} refused a message from this service as larger than its maxFrameSize${limit ? ` (${limit} bytes)` : ""}`,
          { peer: this.peerId },
        );
      } else if (typeof wsCode === "string" && wsCode.startsWith("WS_ERR_")) {
        why = "error";
        err = new ProtocolError(
          ErrorCode.MALFORMED_FRAME,
          `invalid WebSocket data from ${this.peerId ?? this.transport.remote}: ${error?.message}`,
          { cause: error, peer: this.peerId },
        );
      } else if (!wasOpen && this.peer === undefined && error) {
        why = "transport";
        err = new TransportError(`connection to ${this.transport.remote} failed: ${error.message}`, { cause: error });
      } else {
        why = "transport";
        err = error
          ? new TransportError(`link to ${this.peerId ?? this.transport.remote} failed: ${error.message}`, {
              cause: error,
              peer: this.peerId,
            })
          : undefined;
        debug("%s: transport to %s closed (%d %s)", this.host.id, this.peerId ?? this.transport.remote, code, reason);
      }
    }
    if (err && err.peer === undefined && this.peerId !== undefined) Object.defineProperty(err, "peer", { value: this.peerId });
    // An accepted connection that ends with an error before the peer proved itself (a wrong
    // proof, invalid or unexpected frames, the byte budget, a missed deadline, an ERROR frame)
    // counts against its address: past the limit it is banned, so a flood of bad handshakes is
    // reported a few times and once as a ban, not once per connection.
    if (err && this.direction === "inbound" && !this.peerVerified) this.host.handshakeFailed?.(this.transport.remote);
    this.host.linkClosed(this, why, err);
  }
}
