/**
 * The core-NATS message format: the sender's id in front of the message, so a publish carries no
 * NATS header block (nats.js would encode one per publish, the server route HPUB/HMSG, the
 * subscriber parse it). Pure: no connection, no timers.
 *
 * | bytes | content                                                       |
 * | ----- | ------------------------------------------------------------- |
 * | 1     | the mark: `0xc0` on a topic subject, `0xc1` on an inbox subject |
 * | 2     | length of the sender id in UTF-8 bytes, big-endian, 1 to 1024  |
 * | n     | the sender id, UTF-8                                           |
 * | rest  | `0xc0`: the payload alone, one MessagePack value (the subject names the topic; core's `encodeMessageData`); `0xc1`: core's whole message body, topic then payload (`encodeMessageBody`) |
 *
 * The router has core encode a message right after its prefix, in one buffer, once per publish.
 *
 * Neither mark can start a body of the oldest format (plain MessagePack, a str first), and each
 * kind of subject accepts its own mark only, so a message of another version or for another kind
 * of subject is refused with a reason instead of misread. Durable mode (JetStream) keeps its
 * header format (`Nats-Msg-Id`, `Sfn-From`).
 */
import { Buffer } from "node:buffer";

/** First byte of a message on an inbox subject (`{ to }`): the sender, then core's message body. */
export const FRAME_MARK = 0xc1;
/** First byte of a message on a topic subject: the sender, then the payload without its topic. */
export const TOPIC_FRAME_MARK = 0xc0;
/** Longest sender id in UTF-8 bytes (service ids are at most 256 characters). */
export const MAX_SENDER_BYTES = 1024;
const HEAD = 3;

/** The bytes put in front of every message a service sends with `mark`: computed once per service. */
export function senderPrefix(id: string, mark: typeof FRAME_MARK | typeof TOPIC_FRAME_MARK = FRAME_MARK): Buffer {
  const idBytes = Buffer.from(id, "utf8");
  if (idBytes.length === 0 || idBytes.length > MAX_SENDER_BYTES) {
    throw new RangeError(`sender id must be 1 to ${MAX_SENDER_BYTES} UTF-8 bytes`);
  }
  const prefix = Buffer.allocUnsafe(HEAD + idBytes.length);
  prefix[0] = mark;
  prefix.writeUInt16BE(idBytes.length, 1);
  idBytes.copy(prefix, HEAD);
  return prefix;
}

/**
 * Reads the sender frame of received messages. Remembers the last sender's bytes: a subscriber
 * mostly hears the same few services, and comparing a few bytes is cheaper than decoding the id
 * each time (and the same id string comes back, so per-sender lookups stay cheap too). The
 * result of the last `read` is in {@link from} and {@link start}: no object per message.
 */
export class FrameReader {
  /** Sender of the last message read. */
  from = "";
  /** Where the content of the last message read starts (after the sender frame). */
  start = 0;
  private lastBytes: Uint8Array = new Uint8Array(0);

  /** Reads the frame of a message expected to carry `mark`; returns why it is not one, or undefined. */
  read(data: Uint8Array, mark: typeof FRAME_MARK | typeof TOPIC_FRAME_MARK): string | undefined {
    if (data[0] !== mark) {
      if (data[0] === FRAME_MARK) return "carries its topic in the body, as only inbox messages do (a peer on an older @sfn/channel-nats?)";
      if (data[0] === TOPIC_FRAME_MARK) return "is framed for a topic subject, not an inbox";
      return "is not an SFN message of this version (no sender frame: a peer on an older @sfn/channel-nats?)";
    }
    const size = data.length < HEAD ? 0 : ((data[1] as number) << 8) | (data[2] as number);
    if (size === 0 || size > MAX_SENDER_BYTES || data.length < HEAD + size) return "has a malformed sender frame";
    const end = HEAD + size;
    if (!same(this.lastBytes, data, size)) {
      this.from = Buffer.from(data.buffer, data.byteOffset + HEAD, size).toString("utf8");
      // A copy: the received bytes may be a view of a buffer the client reuses.
      this.lastBytes = new Uint8Array(data.subarray(HEAD, end));
    }
    this.start = end;
    return undefined;
  }
}

function same(bytes: Uint8Array, data: Uint8Array, size: number): boolean {
  if (bytes.length !== size) return false;
  // Compared from the end: ids of one deployment often share a start ("web-server-").
  for (let i = size - 1; i >= 0; i--) if (bytes[i] !== data[HEAD + i]) return false;
  return true;
}
