import type { EventEmitter } from "node:events";

/** Rejects if `promise` does not settle within `ms` (a safety net, not a timing assertion). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the arguments of the next `event` whose first argument satisfies `predicate`. */
export function nextEvent<T = unknown>(
  emitter: EventEmitter,
  event: string,
  predicate: (value: T) => boolean = () => true,
  ms = 20000,
): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => {
      const handler = (value: T): void => {
        if (!predicate(value)) return;
        emitter.off(event, handler);
        resolve(value);
      };
      emitter.on(event, handler);
    }),
    ms,
    `event "${event}"`,
  );
}

/**
 * Resolves once `check()` is true. Polls on a short timer (1 ms, backing off to 10 ms), so
 * waiting costs next to no CPU: re-checking on every turn of the event loop would spin a core
 * that the code under test (and, on a shared machine, other processes) need.
 */
export async function until(check: () => boolean, ms = 20000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  let delay = 1;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10);
  }
}
