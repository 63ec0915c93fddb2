/**
 * The cryptography of the link handshake (protocol version 2). Every input is spelled out in
 * docs/protocol.md; change one side only together with the other.
 */
import {
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import { Role, type RoleValue } from "./protocol/frames.js";

/** Length of nonces, keys, proofs and MACs, in bytes. */
export const KEY_BYTES = 32;

const TRANSCRIPT_LABEL = "sfn-channel/v2/transcript";
const AUTH_LABEL = { [Role.DIALER]: "sfn-channel/v2/auth/dialer", [Role.ACCEPTOR]: "sfn-channel/v2/auth/acceptor" } as const;
const RESUME_LABEL = { [Role.DIALER]: "sfn-channel/v2/resume/dialer", [Role.ACCEPTOR]: "sfn-channel/v2/resume/acceptor" } as const;
const SESSION_LABEL = "sfn-channel/v2/session";
// Used in place of the secret when the channels have none: the key then rests on X25519 alone.
const NO_SECRET = Buffer.alloc(KEY_BYTES);
// DER prefix of an X25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

/** A fresh 32-byte nonce. */
export function createNonce(): Uint8Array {
  return randomBytes(KEY_BYTES);
}

/** A random id for one channel instance (changes on every restart). */
export function createInstanceId(): string {
  return randomBytes(12).toString("base64url");
}

/** An ephemeral X25519 key pair for one connection. */
export interface Ephemeral {
  /** Raw 32-byte public key, sent in HELLO. */
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A fresh ephemeral X25519 key pair. */
export function createEphemeral(): Ephemeral {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  const spki = publicKey.export({ format: "der", type: "spki" });
  return { publicKey: spki.subarray(spki.length - KEY_BYTES), privateKey };
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/**
 * H: SHA-256 over the exact bytes of both HELLO messages, the dialer's first. Each proof and
 * key is bound to it, and so to the version, roles, ids, nonces, ephemeral keys, frame sizes
 * and auth flags of both sides.
 */
export function transcriptHash(dialerHello: Uint8Array, acceptorHello: Uint8Array): Buffer {
  return createHash("sha256")
    .update(TRANSCRIPT_LABEL)
    .update(u32(dialerHello.length))
    .update(dialerHello)
    .update(u32(acceptorHello.length))
    .update(acceptorHello)
    .digest();
}

/** proof = HMAC-SHA256(secret, "sfn-channel/v2/auth/<role>" ‖ 0x00 ‖ H). */
export function authProof(secret: Uint8Array, role: RoleValue, transcript: Uint8Array): Buffer {
  return createHmac("sha256", secret).update(AUTH_LABEL[role]).update("\0").update(transcript).digest();
}

/**
 * K = HMAC-SHA256(secret or 32 zero bytes, "sfn-channel/v2/session" ‖ 0x00 ‖ H ‖ X25519(own private, peer public)).
 * Neither a passive observer nor another holder of the secret can compute it.
 * Throws if the peer's public key is not a usable X25519 key (e.g. a low-order point).
 */
export function sessionKey(secret: Uint8Array | undefined, transcript: Uint8Array, own: Ephemeral, peerPublicKey: Uint8Array): Buffer {
  const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peerPublicKey]), format: "der", type: "spki" });
  const shared = diffieHellman({ privateKey: own.privateKey, publicKey });
  return createHmac("sha256", secret ?? NO_SECRET)
    .update(SESSION_LABEL)
    .update("\0")
    .update(transcript)
    .update(shared)
    .digest();
}

/**
 * resume = HMAC-SHA256(K_prev, "sfn-channel/v2/resume/<role>" ‖ 0x00 ‖ H ‖ u32(len(instance)) ‖ instance ‖ u64(received)):
 * proves possession of the previous session's key on this connection only, and authenticates
 * the READY fields that a resume acts on.
 */
export function resumeProof(key: Uint8Array, role: RoleValue, transcript: Uint8Array, instance: string, received: number): Buffer {
  const id = Buffer.from(instance, "utf8");
  const seq = Buffer.allocUnsafe(8);
  seq.writeBigUInt64BE(BigInt(received), 0);
  return createHmac("sha256", key)
    .update(RESUME_LABEL[role])
    .update("\0")
    .update(transcript)
    .update(u32(id.length))
    .update(id)
    .update(seq)
    .digest();
}

/** Constant-time comparison of a received proof against the expected one. */
export function proofMatches(expected: Uint8Array, received: Uint8Array): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}
