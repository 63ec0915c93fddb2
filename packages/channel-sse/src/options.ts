import { InvalidOptionError } from "@sfn/channel-core";
import { idKeyBytes } from "./event-id.js";
import type { SseFrontEndOptions } from "./front-end.js";

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

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value);
  return value === null ? "null" : typeof value;
}
