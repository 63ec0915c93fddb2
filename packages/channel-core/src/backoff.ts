import type { ReconnectOptions } from "./types.js";

/** Resolved reconnect settings. */
export type Backoff = Required<ReconnectOptions>;

/** Defaults of {@link ReconnectOptions}. */
export const DEFAULT_BACKOFF: Backoff = { initialDelay: 100, maxDelay: 5000, factor: 2, jitter: 0.5 };

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential growth capped at
 * `maxDelay`, of which a `jitter` fraction is random so that a restarted service is not
 * hit by every peer at the same instant.
 */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(b.maxDelay, b.initialDelay * b.factor ** Math.min(attempt, 64));
  return Math.round(base * (1 - b.jitter) + base * b.jitter * random());
}
