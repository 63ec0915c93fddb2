import { assertField } from "./sse-frame.js";
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

const list = (v: string | readonly string[]): string[] => (typeof v === "string" ? [v] : [...v]);

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

  /** Only these front ends (service ids). */
  via(serverId: string | readonly string[]): SseOperator {
    return new SseOperator(this.sink, { ...this.state, via: list(serverId) });
  }

  /** Only these clients, by client id (never a room: rooms are a separate namespace, see `in`). Combines with `in` as a union. */
  to(clientId: string | readonly string[]): SseOperator {
    return new SseOperator(this.sink, { ...this.state, to: [...new Set([...(this.state.to ?? []), ...list(clientId)])] });
  }

  /** Only the clients in these rooms. Combines with `to` as a union. */
  in(room: string | readonly string[]): SseOperator {
    return new SseOperator(this.sink, { ...this.state, rooms: [...new Set([...(this.state.rooms ?? []), ...list(room)])] });
  }

  /** Sends a `message` event. */
  send(data: unknown): boolean {
    return this.sink.send({ t: "send", data, ...this.state });
  }

  /** Sends a named event. Throws `ERR_SSE_INVALID_FIELD` for a name with CR, LF or NUL. */
  emit(event: string, data: unknown): boolean {
    assertField("event name", event);
    return this.sink.send({ t: "send", event, data, ...this.state });
  }

  /** Ends the matching streams; their browsers' reconnects are refused (204) for a while, on every front end reached. */
  close(): boolean {
    return this.sink.send({ t: "close", ...this.state });
  }
}
