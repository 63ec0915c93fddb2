/**
 * The core-NATS message format: the sender's id in front of core's message body, so a publish
 * carries no NATS header block (nats.js would encode one per publish, the server route HPUB/HMSG,
 * the subscriber parse it). Pure: no connection, no timers.
 *
 * | bytes | content                                                       |
 * | ----- | ------------------------------------------------------------- |
 * | 1     | `0xc1`, the one byte MessagePack never uses: an old-format body (plain MessagePack) never starts with it |
 * | 2     | length of the sender id in UTF-8 bytes, big-endian, 1 to 1024  |
 * | n     | the sender id, UTF-8                                           |
 * | rest  | core's message body (`encodeMessageBody`), decoded by core's guarded decoder |
 *
 * Durable mode (JetStream) keeps its header format (`Nats-Msg-Id`, `Sfn-From`).
 */

/** First byte of every framed message. */
export const FRAME_MARK = 0xc1;
/** Longest sender id in UTF-8 bytes (service ids are at most 256 characters). */
export const MAX_SENDER_BYTES = 1024;
const HEAD = 3;

/** The bytes put in front of every message a service sends: computed once per service. */
export function senderPrefix(id: string): Buffer {
  const idBytes = Buffer.from(id, "utf8");
  if (idBytes.length === 0 || idBytes.length > MAX_SENDER_BYTES) {
    throw new RangeError(`sender id must be 1 to ${MAX_SENDER_BYTES} UTF-8 bytes`);
  }
  const prefix = Buffer.allocUnsafe(HEAD + idBytes.length);
  prefix[0] = FRAME_MARK;
  prefix.writeUInt16BE(idBytes.length, 1);
  idBytes.copy(prefix, HEAD);
  return prefix;
}

/** One message: `prefix` (from {@link senderPrefix}) then `body`, in one allocation. */
export function frame(prefix: Buffer, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + body.length);
  prefix.copy(out, 0);
  body.copy(out, prefix.length);
  return out;
}

/** A received message split into sender and body; `error` says why it is not a framed message. */
export type Unframed = { from: string; body: Uint8Array; error?: undefined } | { error: string; from?: undefined; body?: undefined };

/**
 * Splits received messages. Remembers the last sender's bytes: a subscriber mostly hears the same
 * few services, and comparing a few bytes is cheaper than decoding the id each time.
 */
export class FrameReader {
  private lastBytes: Uint8Array = new Uint8Array(0);
  private lastId = "";

  read(data: Uint8Array): Unframed {
    if (data.length < HEAD || data[0] !== FRAME_MARK) {
      return { error: "is not an SFN message of this version (no sender frame: a peer on an older @sfn/channel-nats?)" };
    }
    const size = ((data[1] as number) << 8) | (data[2] as number);
    if (size === 0 || size > MAX_SENDER_BYTES || data.length < HEAD + size) return { error: "has a malformed sender frame" };
    const end = HEAD + size;
    let from: string;
    if (same(this.lastBytes, data, size)) from = this.lastId;
    else {
      from = Buffer.from(data.buffer, data.byteOffset + HEAD, size).toString("utf8");
      this.lastBytes = data.slice(HEAD, end);
      this.lastId = from;
    }
    return { from, body: data.subarray(end) };
  }
}

function same(bytes: Uint8Array, data: Uint8Array, size: number): boolean {
  if (bytes.length !== size) return false;
  // Compared from the end: ids of one deployment often share a start ("web-server-").
  for (let i = size - 1; i >= 0; i--) if (bytes[i] !== data[HEAD + i]) return false;
  return true;
}
