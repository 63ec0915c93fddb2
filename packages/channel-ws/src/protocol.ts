/**
 * Operations travel from publishers to front ends on reserved core topics. Each is a plain
 * object keyed by `t` (a discriminated union), validated by the front end before use.
 */

/** Topic every front end subscribes to; publishers send operations there. */
export const OP_TOPIC = "$sfn.ws.op";
/** Topic answers to requests (fetchSockets, acks) come back on, targeted at the requester. */
export const REPLY_TOPIC = "$sfn.ws.reply";

/** Where and how an operation applies. */
export interface Target {
  /** Namespace. */
  nsp: string;
  /** Rooms to reach (empty: everyone in the namespace). */
  rooms: string[];
  /** Rooms to leave out. */
  except: string[];
  /** Front ends named by `via` (absent: every linked front end, each applying it to its own clients). */
  via?: string[];
  /** Socket.IO flags. */
  volatile?: boolean;
  local?: boolean;
  compress?: boolean;
}

/** Emit an event. */
export interface EmitOp extends Target {
  t: "emit";
  ev: string;
  args: unknown[];
}

/** Make matching sockets join or leave rooms. */
export interface RoomsOp extends Target {
  t: "join" | "leave";
  names: string[];
}

/** Disconnect matching sockets. */
export interface DisconnectOp extends Target {
  t: "disconnect";
  close: boolean;
}

/** Describe matching sockets (answered on the reply topic). */
export interface FetchOp extends Target {
  t: "fetch";
  req: string;
}

/** Emit with a broadcast acknowledgement (answered on the reply topic). */
export interface AckOp extends Target {
  t: "ack";
  req: string;
  ev: string;
  args: unknown[];
  timeout: number;
}

/** Any operation. */
export type Operation = EmitOp | RoomsOp | DisconnectOp | FetchOp | AckOp;

/** A front end's answer to a request. */
export interface Reply {
  req: string;
  /** The answering front end's id. */
  server: string;
  /** Socket descriptions (fetch) or client answers (ack). */
  items: unknown[];
  /** False if some clients did not answer before the timeout (ack). */
  complete: boolean;
}

/** What `fetchSockets` returns for each socket. */
export interface RemoteSocketInfo {
  /** Socket id. */
  id: string;
  /** Rooms the socket is in (its own id included, as in Socket.IO). */
  rooms: string[];
  /** The handshake data (headers, query, auth, address, time...). */
  handshake: Record<string, unknown>;
  /** `socket.data`. */
  data: unknown;
  /**
   * Id of the front end holding the socket; undefined for a socket that `via(x)` (without
   * `local`) found on another server of x's Socket.IO cluster, through its adapter.
   */
  server: string | undefined;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
const optBool = (v: unknown): boolean => v === undefined || typeof v === "boolean";

/** Validates an operation received from a peer; returns undefined if it is not one. */
export function readOperation(v: unknown): Operation | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.nsp !== "string" || !o.nsp.startsWith("/") || !isStrings(o.rooms) || !isStrings(o.except)) return undefined;
  if (o.via !== undefined && !isStrings(o.via)) return undefined;
  if (!optBool(o.volatile) || !optBool(o.local) || !optBool(o.compress)) return undefined;
  switch (o.t) {
    case "emit":
      return typeof o.ev === "string" && Array.isArray(o.args) ? (o as unknown as EmitOp) : undefined;
    case "join":
    case "leave":
      return isStrings(o.names) ? (o as unknown as RoomsOp) : undefined;
    case "disconnect":
      return typeof o.close === "boolean" ? (o as unknown as DisconnectOp) : undefined;
    case "fetch":
      return typeof o.req === "string" ? (o as unknown as FetchOp) : undefined;
    case "ack":
      return typeof o.req === "string" &&
        typeof o.ev === "string" &&
        Array.isArray(o.args) &&
        typeof o.timeout === "number" &&
        o.timeout > 0
        ? (o as unknown as AckOp)
        : undefined;
    default:
      return undefined;
  }
}

/** Validates a reply received from a peer. */
export function readReply(v: unknown): Reply | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  return typeof o.req === "string" && typeof o.server === "string" && Array.isArray(o.items) && typeof o.complete === "boolean"
    ? (o as unknown as Reply)
    : undefined;
}
