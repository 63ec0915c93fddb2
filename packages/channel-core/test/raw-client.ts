import { once } from "node:events";
import { WebSocket } from "ws";
import { createNonce, createProof } from "../src/auth.js";
import { createDecoder, decodeFrames, encodeControl, encodePatternsBody, encodeSequenced } from "../src/protocol/codec.js";
import { FrameType, PROTOCOL_VERSION, type Frame, type HelloFrame } from "../src/protocol/frames.js";

/** A WebSocket client that speaks the wire protocol by hand, to misbehave on purpose. */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly sent: Buffer[] = [];
  readonly closed: Promise<unknown[]>;
  private readonly decoder = createDecoder();
  readonly nonce = createNonce();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (d: Buffer) => {
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

  hello(id: string, auth: boolean): void {
    this.send(encodeControl({ type: FrameType.HELLO, version: PROTOCOL_VERSION, id, instance: `raw-${id}`, nonce: this.nonce, maxFrameSize: 1 << 20, auth }));
  }

  /** Runs the whole handshake as service `id`, proving `secret`; resolves once linked. */
  async handshake(id: string, secret: string): Promise<void> {
    this.hello(id, true);
    const hello = await this.frame<HelloFrame>(FrameType.HELLO);
    this.send(encodeControl({ type: FrameType.AUTH, proof: createProof(Buffer.from(secret), id, hello.id, hello.nonce, this.nonce) }));
    await this.frame(FrameType.READY);
    this.send(encodeControl({ type: FrameType.READY, session: null, received: 0 }));
    this.send(encodeSequenced(FrameType.SUB, 1, encodePatternsBody([])));
  }
}
