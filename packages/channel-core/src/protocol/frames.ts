/**
 * The wire protocol: every frame is one MessagePack array whose first element is the
 * frame type. Once a link is open, a WebSocket message carries one or more frames back to
 * back, so a sender can coalesce everything queued in one tick into a single write; during
 * the handshake every message carries exactly one frame. See docs/protocol.md.
 */

/** Version of the wire protocol; peers with another version are refused (`ERR_PROTOCOL_VERSION`). */
export const PROTOCOL_VERSION = 2;

/** The side of a connection that sends a HELLO: the dialer speaks first, the acceptor answers. */
export const Role = {
  /** The side that opened the connection. */
  DIALER: 1,
  /** The side that accepted it (the listener). */
  ACCEPTOR: 2,
} as const;

/** One of the {@link Role} constants. */
export type RoleValue = (typeof Role)[keyof typeof Role];

/** Frame type constants (the first element of every frame). */
export const FrameType = {
  /** `[1, version, role, id, nonce, key, maxFrameSize, auth]`: first frame on both sides, the dialer's first. */
  HELLO: 1,
  /** `[2, proof]`: HMAC proof of the shared secret over the handshake transcript, bound to the sender's role. */
  AUTH: 2,
  /** `[3, instance, resume, received]`: the sender's instance, proof of the previous session key (or null), last sequence received. */
  READY: 3,
  /** `[4, seq, topic, data]`: a published message. */
  MSG: 4,
  /** `[5, seq, patterns]`: the sender subscribed to these patterns. */
  SUB: 5,
  /** `[6, seq, patterns]`: the sender no longer listens to these patterns. */
  UNSUB: 6,
  /** `[7, seq]`: every sequenced frame up to `seq` arrived (cumulative). */
  ACK: 7,
  /** `[8]`: liveness probe. */
  PING: 8,
  /** `[9]`: answer to a PING. */
  PONG: 9,
  /** `[10, code, message]`: the sender refuses or ends the link for this reason. */
  ERROR: 10,
  /** `[11, reason]`: the sender ends the link for good; drop the session. */
  BYE: 11,
} as const;

/** One of the {@link FrameType} constants. */
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** First frame each side sends; it reveals nothing about sessions. */
export interface HelloFrame {
  type: typeof FrameType.HELLO;
  version: number;
  /** Role of the sender on this connection. */
  role: RoleValue;
  /** The sender's service id. */
  id: string;
  /** Fresh 32 random bytes: makes the transcript, hence every proof, unique to this connection. */
  nonce: Uint8Array;
  /** The sender's ephemeral X25519 public key (32 bytes) for this connection. */
  key: Uint8Array;
  /** Largest WebSocket message the sender accepts. */
  maxFrameSize: number;
  /** True if the sender holds a shared secret and requires one. */
  auth: boolean;
}

/** Proof of the shared secret, bound to the sender's role and the transcript of both HELLOs. */
export interface AuthFrame {
  type: typeof FrameType.AUTH;
  proof: Uint8Array;
}

/** Last handshake frame, sent only to a verified peer; carries what is needed to resume a session. */
export interface ReadyFrame {
  type: typeof FrameType.READY;
  /** Random id of the sender's channel instance (changes on restart). */
  instance: string;
  /** MAC with the key of the session the sender holds for this peer (proof of possession), or null for none. */
  resume: Uint8Array | null;
  /** Highest sequence number the sender received from this peer in that session (0 without one). */
  received: number;
}

/** A published message. */
export interface MsgFrame {
  type: typeof FrameType.MSG;
  seq: number;
  topic: string;
  data: unknown;
}

/** Subscription change. */
export interface SubFrame {
  type: typeof FrameType.SUB | typeof FrameType.UNSUB;
  seq: number;
  patterns: string[];
}

/** Cumulative acknowledgement. */
export interface AckFrame {
  type: typeof FrameType.ACK;
  seq: number;
}

/** Heartbeat probe or answer. */
export interface PingFrame {
  type: typeof FrameType.PING | typeof FrameType.PONG;
}

/** A refusal or fatal error, sent just before closing. */
export interface ErrorFrame {
  type: typeof FrameType.ERROR;
  code: string;
  message: string;
}

/**
 * The sender ends the link: `"disconnect"` (drop the session), `"close"` (the sender shuts
 * down) or `"superseded"` (another connection between the same two services carries the link).
 */
export interface ByeFrame {
  type: typeof FrameType.BYE;
  reason: string;
}

/** Any frame. */
export type Frame = HelloFrame | AuthFrame | ReadyFrame | MsgFrame | SubFrame | AckFrame | PingFrame | ErrorFrame | ByeFrame;

/** Frames that carry a sequence number, are kept in the resume window and acknowledged. */
export type SequencedFrame = MsgFrame | SubFrame;

/** Frames that are sent once and never resent. */
export type ControlFrame = HelloFrame | AuthFrame | ReadyFrame | AckFrame | PingFrame | ErrorFrame | ByeFrame;

/** Frames accepted from a peer before its handshake is complete. */
export function isHandshakeFrame(frame: Frame): boolean {
  return (
    frame.type === FrameType.HELLO ||
    frame.type === FrameType.AUTH ||
    frame.type === FrameType.READY ||
    frame.type === FrameType.ERROR ||
    frame.type === FrameType.BYE
  );
}
