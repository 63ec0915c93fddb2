/**
 * Event ids that carry a signed client id: `<epoch>.<n>.<client id, base64url>.<tag>`, where the
 * tag is an HMAC-SHA256 of the client id under the front end's `idKey`, truncated to 96 bits.
 * A browser's `Last-Event-ID` restores its client id only if the tag verifies, so a browser can
 * present only an id this front end (or one sharing its key) issued to it: it cannot pick
 * another client's id, and a forged or overlong header is ignored.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { InvalidOptionError } from "@sfn/channel-core";
import { SseError, SseErrorCode } from "./errors.js";
import { assertField } from "./sse-frame.js";

/** Longest client id, in UTF-8 bytes (from the application, or restored from `Last-Event-ID`). */
export const MAX_CLIENT_ID_BYTES = 256;
/** Longest `Last-Event-ID` header considered for a restore; a longer one is ignored. */
export const MAX_EVENT_ID_LENGTH = 512;
/** Shortest `idKey` accepted, in bytes. */
export const MIN_ID_KEY_BYTES = 16;

const TAG_BYTES = 12;
const TAG_CHARS = 16; // base64url of 12 bytes
// Domain separation: the key signs client ids and nothing else.
const LABEL = "sfn-sse client id v1\0";
const EPOCH = /^[A-Za-z0-9]{1,16}$/;
const NUMBER = /^(0|[1-9][0-9]{0,15})$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** A fresh client id: 128 random bits from `node:crypto`, URL-safe (`[A-Za-z0-9_-]{22}`). */
export function newClientId(): string {
  return randomBytes(16).toString("base64url");
}

/** Throws {@link SseError} (`ERR_SSE_INVALID_FIELD`) for a client id with CR, LF or NUL, lone surrogates, empty, or over 256 UTF-8 bytes. */
export function checkClientId(id: string): void {
  assertField("client id", id);
  const bytes = Buffer.from(id, "utf8");
  // Lone surrogates would not survive the trip through the event id.
  if (bytes.length === 0 || bytes.length > MAX_CLIENT_ID_BYTES || bytes.toString("utf8") !== id) {
    throw new SseError(SseErrorCode.INVALID_FIELD, `SSE client id must be 1 to ${MAX_CLIENT_ID_BYTES} bytes of well-formed UTF-8`);
  }
}

/** A `Last-Event-ID` this front end can use: where the browser was, and which client it is. */
export interface RestoredId {
  /** The instance that numbered the event (history only continues on the same one). */
  epoch: string;
  /** Number of the last event the browser received. */
  n: number;
  /** The client id, verified with the key. */
  client: string;
}

/** The bytes of an `idKey` (a string counts as its UTF-8 bytes); one shorter than 16 bytes throws `InvalidOptionError`. */
export function idKeyBytes(key: string | Uint8Array): Buffer {
  const bytes = typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key);
  if (bytes.length < MIN_ID_KEY_BYTES) {
    throw new InvalidOptionError(
      `idKey must have at least ${MIN_ID_KEY_BYTES} bytes (use 32 random bytes, e.g. crypto.randomBytes(32).toString("base64"))`,
    );
  }
  return bytes;
}

/** Signs client ids into event ids, and verifies them on the way back. */
export class EventIds {
  /** Random tag of this front-end instance: event numbers only mean something on the instance that issued them. */
  readonly epoch = randomBytes(6).toString("base64url").replace(/[-_]/g, "x");
  private readonly key: Buffer;

  constructor(key?: string | Uint8Array) {
    if (key === undefined) {
      this.key = randomBytes(32);
      return;
    }
    this.key = idKeyBytes(key);
  }

  /** What follows the number in each of this client's event ids (computed once per stream). */
  suffix(client: string): string {
    return `${Buffer.from(client, "utf8").toString("base64url")}.${this.tag(client).toString("base64url")}`;
  }

  /** The id of event `n` for a client with this {@link EventIds.suffix}. */
  format(n: number, suffix: string): string {
    return `${this.epoch}.${n}.${suffix}`;
  }

  /** The verified content of a `Last-Event-ID`, or undefined if it is malformed, overlong or not signed with this key. */
  verify(id: string): RestoredId | undefined {
    const claim = parse(id);
    if (!claim) return undefined;
    const expected = this.tag(claim.client);
    return claim.tag.length === expected.length && timingSafeEqual(claim.tag, expected)
      ? { epoch: claim.epoch, n: claim.n, client: claim.client }
      : undefined;
  }

  private tag(client: string): Buffer {
    return createHmac("sha256", this.key).update(LABEL).update(client, "utf8").digest().subarray(0, TAG_BYTES);
  }
}

/**
 * The client id an event id claims, unverified. Only good for refusing: a browser that
 * presents the id of a closed client is answered 204, which can only hurt that browser.
 */
export function claimedClient(id: string): string | undefined {
  return parse(id)?.client;
}

function parse(id: string): (RestoredId & { tag: Buffer }) | undefined {
  if (id.length > MAX_EVENT_ID_LENGTH) return undefined;
  const parts = id.split(".");
  if (parts.length !== 4) return undefined;
  const [epoch, num, client64, tag64] = parts as [string, string, string, string];
  if (!EPOCH.test(epoch) || !NUMBER.test(num) || !B64URL.test(client64) || tag64.length !== TAG_CHARS || !B64URL.test(tag64))
    return undefined;
  const n = Number(num);
  if (!Number.isSafeInteger(n)) return undefined;
  const raw = Buffer.from(client64, "base64url");
  if (raw.length === 0 || raw.length > MAX_CLIENT_ID_BYTES) return undefined;
  const client = raw.toString("utf8");
  // Only the canonical encoding of valid UTF-8 is accepted, so one client id has one event-id form.
  if (Buffer.from(client, "utf8").toString("base64url") !== client64) return undefined;
  return { epoch, n, client, tag: Buffer.from(tag64, "base64url") };
}
