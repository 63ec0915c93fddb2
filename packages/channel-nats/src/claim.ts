import { Empty, RequestError, TimeoutError, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { DuplicateIdError } from "@sfn/channel-core";
import type { SubjectSpace } from "./subjects.js";

/**
 * Claiming a service id on the bus before using it: a request on the id's own inbox subject.
 * A live holder (subscribed to that inbox) answers with its instance id; with nobody there,
 * nats-server answers "no responders" at once, so a free id costs one round trip and no timer.
 * A race the request cannot see (two claims at once, or interest still crossing a route) is
 * settled afterwards by presence (`Presence`'s `duplicate` event).
 */

/** Header that marks a claim request; its value is the claimer's instance id. */
export const CLAIM_HEADER = "Sfn-Claim";

/** How a claim ended when the id was not refused. */
export type ClaimResult =
  /** Nobody holds the id (no responders). */
  | "free"
  /** Something is subscribed to the inbox but did not answer in time (a holder that just died, not yet noticed by the server): taken as free. */
  | "no-answer";

/**
 * Claims `id` for this instance. Call it before subscribing to the own inbox. Rejects with
 * `DuplicateIdError` when a live instance answers for the id.
 */
export async function claimId(nc: NatsConnection, space: SubjectSpace, id: string, instance: string, timeout = 2000): Promise<ClaimResult> {
  const h = headers();
  h.set(CLAIM_HEADER, instance);
  let answer: Msg;
  try {
    answer = await nc.request(space.inbox(id), Empty, { headers: h, timeout });
  } catch (error) {
    if (error instanceof RequestError && error.isNoResponders()) return "free";
    if (error instanceof TimeoutError) return "no-answer";
    throw error;
  }
  const holder = answer.string().slice(0, 64);
  throw new DuplicateIdError(`service id "${id}" is already used by a running instance (${holder || "unknown"}) on the bus`, { peer: id });
}

/**
 * Answers a claim that arrived on this service's inbox with its instance id. Returns false for
 * any other message (ordinary inbox traffic), which the caller handles as usual.
 */
export function answerClaim(msg: Msg, instance: string): boolean {
  if (!msg.reply || !msg.headers?.has(CLAIM_HEADER)) return false;
  msg.respond(instance);
  return true;
}
