/** Operations publishers send to SSE front ends on a reserved core topic, keyed by `t`. */

/** Topic every SSE front end subscribes to. */
export const OP_TOPIC = "$sfn.sse.op";

/** Send an event. */
export interface SendOp {
  t: "send";
  /** Event name (absent: the default `message` event). */
  event?: string;
  data: unknown;
  /** Client ids (with `rooms` absent too: every client). */
  to?: string[];
  /** Rooms (a separate namespace from client ids). */
  rooms?: string[];
  via?: string[];
}

/** Close streams (and refuse their reconnects for a while). */
export interface CloseOp {
  t: "close";
  to?: string[];
  rooms?: string[];
  via?: string[];
}

/** Any operation. */
export type SseOperation = SendOp | CloseOp;

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

/** Validates an operation received from a peer; undefined if it is not one. */
export function readOperation(v: unknown): SseOperation | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  for (const list of [o.to, o.rooms, o.via]) if (list !== undefined && !isStrings(list)) return undefined;
  if (o.t === "send") return o.event === undefined || typeof o.event === "string" ? (o as unknown as SendOp) : undefined;
  if (o.t === "close") return o as unknown as CloseOp;
  return undefined;
}
