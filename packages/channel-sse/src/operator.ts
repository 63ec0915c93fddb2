import { InvalidOptionError } from "@sfn/channel-core";
import { stringList } from "@sfn/channel-core/internal";
import { checkClientId } from "./event-id.js";
import { assertField, checkName } from "./sse-frame.js";
import type { SseOperation } from "./protocol.js";

/** Where an operator sends its operations. */
export interface SseSink {
  send(op: SseOperation): boolean;
}

interface State {
  via?: string[];
  to?: string[];
  rooms?: string[];
}

/**
 * The names given to a step: a string or an array of strings (else `InvalidOptionError`), each
 * passed to `check` (which throws `ERR_SSE_INVALID_FIELD` for one that can never be valid).
 */
function list(step: string, what: string, v: string | readonly string[], check?: (name: string) => void): string[] {
  const names = stringList(v);
  if (!names) throw new InvalidOptionError(`${step}() takes a ${what} (a string) or an array of them; got ${typeOf(v)}`);
  if (check) for (const n of names) check(n);
  return names;
}

const typeOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array holding a non-string" : typeof v);
const checkRoom = (room: string): void => assertField("room name", room);

/**
 * Pushes Server-Sent Events to the browsers of linked SSE front ends. Every step returns a
 * new operator, so a partial chain can be kept and reused.
 *
 * @example
 * ```ts
 * message.sse.send("Hello, World!");
 * message.sse.via("web-server-1").to("PbiJhda21").emit("greeting", "Hello, World!");
 * message.sse.in("customer-42").emit("invoice", { id: 7 });
 * message.sse.via("web-server-1").to("PbiJhda21").close();
 * ```
 */
export class SseOperator {
  /** @internal */
  constructor(
    protected readonly sink: SseSink,
    protected readonly state: State = {},
  ) {}

  /** Only these front ends (service ids). Throws `InvalidOptionError` for anything but a string or an array of strings. */
  via(serverId: string | readonly string[]): SseOperator {
    return new SseOperator(this.sink, { ...this.state, via: list("via", "service id", serverId) });
  }

  /**
   * Only these clients, by client id (never a room: rooms are a separate namespace, see `in`). Combines with `in` as a union.
   * Throws `ERR_SSE_INVALID_FIELD` for an id no client can have (CR, LF or NUL, empty, over 256 bytes), `InvalidOptionError` for a non-string.
   */
  to(clientId: string | readonly string[]): SseOperator {
    const to = list("to", "client id", clientId, checkClientId);
    return new SseOperator(this.sink, { ...this.state, to: [...new Set([...(this.state.to ?? []), ...to])] });
  }

  /** Only the clients in these rooms. Combines with `to` as a union. Throws `ERR_SSE_INVALID_FIELD` for a name with CR, LF or NUL, `InvalidOptionError` for a non-string. */
  in(room: string | readonly string[]): SseOperator {
    const rooms = list("in", "room name", room, checkRoom);
    return new SseOperator(this.sink, { ...this.state, rooms: [...new Set([...(this.state.rooms ?? []), ...rooms])] });
  }

  /** Sends a `message` event. */
  send(data: unknown): boolean {
    return this.sink.send({ t: "send", data, ...this.state });
  }

  /** Sends a named event. Throws `ERR_SSE_INVALID_FIELD` for a name with CR, LF or NUL, `InvalidOptionError` for a non-string. */
  emit(event: string, data: unknown): boolean {
    checkName("event name", event);
    return this.sink.send({ t: "send", event, data, ...this.state });
  }

  /** Ends the matching streams; their browsers' reconnects are refused (204) for a while, on every front end reached. */
  close(): boolean {
    return this.sink.send({ t: "close", ...this.state });
  }
}
