import { createHash, createHmac, createPublicKey, diffieHellman, type KeyObject } from "node:crypto";
import { authProof, createEphemeral, proofMatches, resumeProof, sessionKey, transcriptHash } from "./auth.js";
import { Role } from "./protocol/frames.js";

// Each value is recomputed here from the formulas in docs/protocol.md, so the document and the
// code cannot drift apart unnoticed.
const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const helloD = Buffer.from("dialer hello bytes");
const helloA = Buffer.from("acceptor hello bytes!");
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

describe("handshake cryptography (docs/protocol.md)", () => {
  const H = createHash("sha256")
    .update(Buffer.concat([Buffer.from("sfn-channel/v2/transcript"), u32(helloD.length), helloD, u32(helloA.length), helloA]))
    .digest();

  it("H is SHA-256 over the label and both length-prefixed HELLOs, the dialer's first", () => {
    expect(transcriptHash(helloD, helloA)).toEqual(H);
    expect(transcriptHash(helloA, helloD)).not.toEqual(H);
  });

  it("proofs are HMAC(secret, label of the role ‖ 0x00 ‖ H), different per role", () => {
    const d = createHmac("sha256", secret).update("sfn-channel/v2/auth/dialer\0").update(H).digest();
    const a = createHmac("sha256", secret).update("sfn-channel/v2/auth/acceptor\0").update(H).digest();
    expect(authProof(secret, Role.DIALER, H)).toEqual(d);
    expect(authProof(secret, Role.ACCEPTOR, H)).toEqual(a);
    expect(proofMatches(d, a)).toBe(false);
  });

  it("both sides derive the same session key from X25519, the secret and H; without the secret it rests on X25519", () => {
    const d = createEphemeral();
    const a = createEphemeral();
    const kd = sessionKey(secret, H, d, a.publicKey);
    expect(sessionKey(secret, H, a, d.publicKey)).toEqual(kd);
    const z = diffieHellman({ privateKey: d.privateKey, publicKey: createEphemeralPublic(a.publicKey) });
    expect(kd).toEqual(createHmac("sha256", secret).update("sfn-channel/v2/session\0").update(H).update(z).digest());
    expect(sessionKey(undefined, H, d, a.publicKey)).toEqual(
      createHmac("sha256", Buffer.alloc(32)).update("sfn-channel/v2/session\0").update(H).update(z).digest(),
    );
    expect(() => sessionKey(secret, H, d, Buffer.alloc(32))).toThrow();
  });

  it("resume MACs bind the role, H, the instance and the received sequence", () => {
    const key = Buffer.alloc(32, 7);
    const seq = Buffer.alloc(8);
    seq.writeBigUInt64BE(42n);
    const expected = createHmac("sha256", key)
      .update("sfn-channel/v2/resume/dialer\0")
      .update(H)
      .update(Buffer.concat([u32(4), Buffer.from("inst"), seq]))
      .digest();
    expect(resumeProof(key, Role.DIALER, H, "inst", 42)).toEqual(expected);
    expect(resumeProof(key, Role.ACCEPTOR, H, "inst", 42)).not.toEqual(expected);
    expect(resumeProof(key, Role.DIALER, H, "inst", 41)).not.toEqual(expected);
  });
});

/** The raw key wrapped in an X25519 SubjectPublicKeyInfo, as auth.ts does. */
function createEphemeralPublic(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), raw]), format: "der", type: "spki" });
}
