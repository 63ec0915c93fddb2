import { once } from "node:events";
import { WebSocket } from "ws";
import { authProof, createEphemeral, createNonce, resumeProof, sessionKey, transcriptHash } from "../src/auth.js";
import { createDecoder, decodeFrames, encodeControl, encodePatternsBody, encodeSequenced } from "../src/protocol/codec.js";
import { FrameType, PROTOCOL_VERSION, Role, type Frame, type HelloFrame, type ReadyFrame, type RoleValue } from "../src/protocol/frames.js";

/** Options of {@link RawClient.handshake}. */
export interface RawHandshakeOptions {
  /** Instance id claimed in READY. @default `raw-<id>` */
  instance?: string;
  /** The resume MAC to send in READY, computed from the transcript; null for none. */
  resume?: (transcript: Buffer, instance: string) => Uint8Array | null;
  /** `received` sent in READY. @default 0 */
  received?: number;
}

/** A WebSocket client that speaks the wire protocol (version 2) by hand, to misbehave on purpose. */
export class RawClient {
  /** Every frame received, in order. */
  readonly frames: Frame[] = [];
  /** Every message received, raw (during the handshake each carries one frame). */
  readonly messages: Buffer[] = [];
  readonly sent: Buffer[] = [];
  readonly closed: Promise<unknown[]>;
  readonly nonce = createNonce();
  readonly ephemeral = createEphemeral();
  /** Bytes of this client's own HELLO, once sent. */
  ownHello: Buffer | undefined;
  /** H of the handshake, once both HELLOs are known. */
  transcript: Buffer | undefined;
  private readonly decoder = createDecoder();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d: Buffer) => {
      this.messages.push(d);
      try {
        this.frames.push(...decodeFrames(this.decoder, d));
      } catch {
        // The victim's frames are always valid; nothing to do.
      }
    });
    ws.on("error", () => {});
    this.closed = once(ws, "close");
  }

  static async open(url: string): Promise<RawClient> {
    const c = new RawClient(new WebSocket(url, { maxPayload: 64 * 1024 * 1024 }));
    await once(c.ws, "open");
    return c;
  }

  send(bytes: Uint8Array): void {
    const b = Buffer.from(bytes);
    this.sent.push(b);
    this.ws.send(b);
  }

  /** Resolves with the first received frame of `type`. */
  async frame<T extends Frame>(type: number): Promise<T> {
    for (;;) {
      const f = this.frames.find((x) => x.type === type);
      if (f) return f as T;
      if (this.ws.readyState !== WebSocket.OPEN) throw new Error(`closed before frame ${type}`);
      await Promise.race([once(this.ws, "message"), this.closed]);
    }
  }

  /** The raw message that carried the first frame of `type` (handshake messages carry one frame each). */
  message(type: number): Buffer | undefined {
    return this.messages.find((m) => m[1] === type);
  }

  /** The bytes of a HELLO from this client. */
  helloBytes(id: string, auth: boolean, role: RoleValue = Role.DIALER): Buffer {
    return encodeControl({
      type: FrameType.HELLO,
      version: PROTOCOL_VERSION,
      role,
      id,
      nonce: this.nonce,
      key: this.ephemeral.publicKey,
      maxFrameSize: 1 << 20,
      auth,
    });
  }

  /** Sends a dialer's HELLO as service `id`. */
  hello(id: string, auth: boolean): void {
    this.ownHello = this.helloBytes(id, auth);
    this.send(this.ownHello);
  }

  /** Waits for the acceptor's HELLO and computes the transcript H. */
  async peerHello(): Promise<HelloFrame> {
    const hello = await this.frame<HelloFrame>(FrameType.HELLO);
    this.transcript = transcriptHash(this.ownHello as Buffer, this.message(FrameType.HELLO) as Buffer);
    return hello;
  }

  /** The session key of this connection (as the acceptor derives it), once the transcript is known. */
  sessionKey(secret: string | undefined): Buffer {
    const hello = this.frames.find((f): f is HelloFrame => f.type === FrameType.HELLO) as HelloFrame;
    return sessionKey(secret === undefined ? undefined : Buffer.from(secret), this.transcript as Buffer, this.ephemeral, hello.key);
  }

  /**
   * Runs the whole dialer side of the handshake as service `id`, proving `secret` (none:
   * no AUTH); resolves with the acceptor's READY once linked, after sending an empty
   * subscription state.
   */
  async handshake(id: string, secret: string | undefined, options: RawHandshakeOptions = {}): Promise<ReadyFrame> {
    this.hello(id, secret !== undefined);
    await this.peerHello();
    const transcript = this.transcript as Buffer;
    if (secret !== undefined) {
      this.send(encodeControl({ type: FrameType.AUTH, proof: authProof(Buffer.from(secret), Role.DIALER, transcript) }));
      await this.frame(FrameType.AUTH);
    }
    const instance = options.instance ?? `raw-${id}`;
    const resume = options.resume?.(transcript, instance) ?? null;
    this.send(encodeControl({ type: FrameType.READY, instance, resume, received: options.received ?? 0 }));
    const ready = await this.frame<ReadyFrame>(FrameType.READY);
    this.send(encodeSequenced(FrameType.SUB, 1, encodePatternsBody([])));
    return ready;
  }
}

/** A resume MAC for `key` as a dialer would compute it. */
export function dialerResume(key: Uint8Array, received = 0): (transcript: Buffer, instance: string) => Uint8Array {
  return (transcript, instance) => resumeProof(key, Role.DIALER, transcript, instance, received);
}
