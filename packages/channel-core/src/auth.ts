import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const LABEL = "sfn-channel/auth/v1";

/** A fresh 16-byte challenge. */
export function createNonce(): Uint8Array {
  return randomBytes(16);
}

/** A random id for one channel instance (changes on every restart). */
export function createInstanceId(): string {
  return randomBytes(12).toString("base64url");
}

/**
 * Proof that `prover` knows the secret, bound to both ids and both fresh nonces so it
 * cannot be replayed on another connection or reflected back at its author.
 */
export function createProof(
  secret: Uint8Array,
  prover: string,
  verifier: string,
  verifierNonce: Uint8Array,
  proverNonce: Uint8Array,
): Uint8Array {
  return createHmac("sha256", secret)
    .update(LABEL)
    .update("\0")
    .update(prover)
    .update("\0")
    .update(verifier)
    .update("\0")
    .update(verifierNonce)
    .update(proverNonce)
    .digest();
}

/** Constant-time comparison of a received proof against the expected one. */
export function proofMatches(expected: Uint8Array, received: Uint8Array): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** The token of a new session; both sides derive it from the handshake's two nonces. */
export function sessionToken(dialerNonce: Uint8Array, acceptorNonce: Uint8Array): Uint8Array {
  return createHash("sha256").update("sfn-channel/session").update(dialerNonce).update(acceptorNonce).digest().subarray(0, 16);
}

/** True if both tokens are present and equal. */
export function sameSession(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a !== null && b !== null && a.length === b.length && timingSafeEqual(a, b);
}
