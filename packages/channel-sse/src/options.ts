import { InvalidOptionError } from "@sfn/channel-core";
import { knownKeys, stringList } from "@sfn/channel-core/internal";
import { checkClientId, idKeyBytes } from "./event-id.js";
import type { SseConnectOptions, SseFrontEndOptions } from "./front-end.js";
import { assertField } from "./sse-frame.js";

// Longest interval Node's timers take; a longer one fires after 1 ms instead.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Smallest value each numeric option takes (all are integers; 0 means "none" or "not kept" where allowed). */
const NUMBERS: Record<string, { min: 0 | 1; max?: number }> = {
  retry: { min: 0 },
  keepAlive: { min: 0, max: MAX_TIMER_MS },
  historySize: { min: 0 },
  historyAge: { min: 0 },
  historyBytes: { min: 0 },
  maxEventBytes: { min: 1 },
  maxBufferBytes: { min: 0 },
  closedTtl: { min: 0 },
};

const KNOWN = new Set([...Object.keys(NUMBERS), "serialize", "idKey"]);

/**
 * Throws `InvalidOptionError` (`ERR_INVALID_OPTION`) for options an SSE front end cannot honour:
 * an unknown key (a typo would silently keep the default), a numeric option that is not a
 * non-negative safe integer (`maxEventBytes`: positive), a `serialize` that is not a function,
 * or an `idKey` that is not a string or `Uint8Array` of at least 16 bytes.
 */
export function checkOptions(options: SseFrontEndOptions | undefined): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object") throw new InvalidOptionError("SSE options must be an object");
  for (const [key, value] of Object.entries(options)) {
    if (!KNOWN.has(key)) {
      throw new InvalidOptionError(`${JSON.stringify(key)} is not an SSE option (known: ${[...KNOWN].join(", ")})`);
    }
    if (value === undefined) continue;
    const bound = NUMBERS[key];
    if (bound) {
      const max = bound.max ?? Number.MAX_SAFE_INTEGER;
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < bound.min || value > max) {
        const what = bound.min === 1 ? "a positive integer" : "a non-negative integer";
        throw new InvalidOptionError(`${key} must be ${what}${bound.max ? ` of at most ${bound.max}` : ""} (got ${describe(value)})`);
      }
    } else if (key === "serialize") {
      if (typeof value !== "function") throw new InvalidOptionError(`serialize must be a function (got ${describe(value)})`);
    } else if (typeof value !== "string" && !(value instanceof Uint8Array)) {
      throw new InvalidOptionError(`idKey must be a string or a Uint8Array (got ${describe(value)})`);
    } else {
      idKeyBytes(value);
    }
  }
}

// Every key of SseConnectOptions, and only those (the compiler checks both ways).
const CONNECT_KEYS: Record<keyof SseConnectOptions, true> = { id: true, rooms: true, headers: true };

/**
 * Throws for `connect` options it cannot honour, before anything is written to the response:
 * `InvalidOptionError` (`ERR_INVALID_OPTION`) for an unknown key (a misspelt `rooms` would
 * otherwise join no room), an `id` that is not a string, `rooms` that are not a string or an
 * array of strings, `headers` that are not an object of strings; `SseError`
 * (`ERR_SSE_INVALID_FIELD`) for an id or room name no client can have (as `to()` and `in()` do).
 */
export function checkConnectOptions(options: SseConnectOptions | undefined): void {
  knownKeys("connect's options", options, Object.keys(CONNECT_KEYS));
  if (options === undefined) return;
  const { id, rooms, headers } = options as { id?: unknown; rooms?: unknown; headers?: unknown };
  if (id !== undefined) {
    if (typeof id !== "string") throw new InvalidOptionError(`connect's id must be a string (a client id); got ${describe(id)}`);
    checkClientId(id);
  }
  if (rooms !== undefined) {
    const names = stringList(rooms);
    if (!names)
      throw new InvalidOptionError(
        `connect's rooms must be a room name (a string) or an array of them; got ${Array.isArray(rooms) ? "an array holding a non-string" : describe(rooms)}`,
      );
    for (const room of names) assertField("room name", room);
  }
  if (headers !== undefined) {
    if (headers === null || typeof headers !== "object" || Array.isArray(headers)) {
      throw new InvalidOptionError(`connect's headers must be an object of header names to strings; got ${describe(headers)}`);
    }
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== "string") {
        throw new InvalidOptionError(
          `connect's headers must be an object of header names to strings; ${JSON.stringify(name)} is ${describe(value)}`,
        );
      }
    }
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : typeof value;
}
