/**
 * The Server-Sent Events wire format (WHATWG HTML, "Server-sent events"), as pure functions.
 * Data can never break the stream: every line break (CRLF, CR or LF) starts a new `data:` line,
 * and names or ids that could inject a field or an event are refused.
 */
import { InvalidOptionError } from "@sfn/channel-core";
import { SseError, SseErrorCode } from "./errors.js";

/** Turns a payload into the text of an event's data; the default is JSON for non-strings. */
export type Serializer = (data: unknown) => string;

/** Most decimal digits of a bigint the JSON serializer writes (a longer one is refused, not converted). */
export const MAX_BIGINT_DIGITS = 1000;
// Comparing against a bound is linear in the bigint's size; converting a huge one to decimal is
// superlinear (a 1 MB bigint blocked the loop for seconds).
const BIGINT_BOUND = 10n ** BigInt(MAX_BIGINT_DIGITS);

function bigintText(v: bigint): string {
  if (v >= BIGINT_BOUND || v <= -BIGINT_BOUND) {
    throw new SseError(SseErrorCode.SERIALIZE, `SSE data holds a bigint of more than ${MAX_BIGINT_DIGITS} digits; send it as a string`);
  }
  return v.toString();
}

/**
 * Strings as they are; everything else as JSON (a bigint of up to 1,000 digits as a string).
 * Data with no JSON form (`undefined`, a function, a symbol) throws {@link SseError} (`ERR_SSE_SERIALIZE`).
 */
export const jsonSerializer: Serializer = (data) => {
  if (typeof data === "string") return data;
  if (typeof data === "bigint") return JSON.stringify(bigintText(data));
  const text = JSON.stringify(data, (_k, v: unknown) => (typeof v === "bigint" ? bigintText(v) : v));
  if (text === undefined) throw noJson(data);
  return text;
};

/** Whether `data` has no JSON form at all (`JSON.stringify` gives undefined): undefined, a function or a symbol. */
export function hasNoJson(data: unknown): boolean {
  return data === undefined || typeof data === "function" || typeof data === "symbol";
}

/** The error for data with no JSON form. */
export function noJson(data: unknown): SseError {
  return new SseError(SseErrorCode.SERIALIZE, `SSE data cannot be ${typeof data} (it has no JSON form); send a string or a JSON value`);
}

const UNSAFE = /[\r\n\0]/;
const LINE_BREAK = /\r\n|\r|\n/;

/** Throws {@link SseError} (`ERR_SSE_INVALID_FIELD`) if `value` contains CR, LF or NUL. */
export function assertField(name: string, value: string): void {
  if (typeof value !== "string" || UNSAFE.test(value)) {
    throw new SseError(
      SseErrorCode.INVALID_FIELD,
      `SSE ${name} ${JSON.stringify(value)} contains CR, LF or NUL, which would inject fields or events`,
    );
  }
}

/**
 * Throws `InvalidOptionError` for a name (`what`: "event name", "room name") that is not a
 * string, {@link SseError} (`ERR_SSE_INVALID_FIELD`) for one with CR, LF or NUL.
 */
export function checkName(what: string, name: unknown): asserts name is string {
  if (typeof name !== "string")
    throw new InvalidOptionError(`an SSE ${what} must be a string; got ${name === null ? "null" : typeof name}`);
  assertField(what, name);
}

/** The `event:` and `data:` lines and the closing blank line of one event (no `id:`). */
export function eventBody(event: string | undefined, data: string): string {
  let out = "";
  if (event !== undefined) {
    assertField("event name", event);
    out += `event: ${event}\n`;
  }
  for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** An `id:` line. */
export function idLine(id: string): string {
  assertField("event id", id);
  return `id: ${id}\n`;
}

/** A `retry:` field telling the browser how long to wait before reconnecting. */
export function retryField(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

/** A comment line (ignored by browsers; used as keep-alive). Line breaks are removed. */
export function comment(text = ""): string {
  return `: ${text.replace(/[\r\n]+/g, " ")}\n\n`;
}
