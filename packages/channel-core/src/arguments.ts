import { InvalidOptionError } from "./errors.js";

/**
 * Throws `InvalidOptionError` for a key `allowed` does not list: a misspelt option would
 * otherwise be ignored in silence, and for `secret` that means a mesh without authentication.
 */
export function knownKeys(name: string, value: unknown, allowed: readonly string[]): void {
  if (value === undefined) return;
  if (value === null || typeof value !== "object") throw new InvalidOptionError(`${name} must be an object`);
  // One pass and no allocation while every key is known: per-message options (a targeted
  // publish) come through here too. The list is built only to say what is wrong.
  let bad = false;
  for (const k in value) if (!allowed.includes(k)) bad = true;
  if (!bad) return;
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new InvalidOptionError(
      `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")} in ${name} (known: ${allowed.join(", ")})`,
    );
  }
}

/**
 * A name or a list of names (service ids, rooms), as a new array: a string, or an array of
 * strings. Anything else gives undefined, for the caller to refuse in its own words.
 */
export function stringList(value: unknown): string[] | undefined {
  if (typeof value === "string") return [value];
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? [...value] : undefined;
}
