import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { ClosedError } from "@sfn/channel-core";
import { extend, internals, type ChannelLike, type InternalApi } from "@sfn/channel-core/internal";
import { SseError, SseErrorCode } from "./errors.js";
import { SseFrontEnd, type SseConnectOptions, type SseFrontEndOptions } from "./front-end.js";
import { checkConnectOptions, checkOptions } from "./options.js";
import { OP_TOPIC, readOperation, type SseOperation } from "./protocol.js";
import { hasNoJson, jsonSerializer, noJson } from "./sse-frame.js";
import { SseOperator } from "./operator.js";
import type { SseClient } from "./sse-client.js";

/**
 * `message.sse`: push to the browsers of every linked SSE front end, and, on a front end,
 * `connect(req, res)` to accept event streams.
 */
export class SseApi extends SseOperator {
  private readonly core: InternalApi;
  private hub: SseFrontEnd | undefined;
  private off: (() => void) | undefined;
  private closed = false;

  /** @internal */
  constructor(
    private readonly channel: ChannelLike,
    private readonly options: SseFrontEndOptions = {},
  ) {
    super({ send: (op) => this.sendOp(op) });
    this.core = internals(channel);
    // Closing the channel stops the front end: its streams end (`shutdown`), so browsers
    // reconnect, to another front end behind a load balancer, instead of waiting on this one.
    this.core.onClose(() => {
      this.closed = true;
      this.unserve();
    });
  }

  /**
   * Makes this service an SSE front end under its channel id (done by the first `connect`
   * too). Call it at startup so publishers can reach it, and `close`s are recorded, before
   * any browser connects. Returns the function that stops it.
   */
  serve(options?: SseFrontEndOptions): () => void {
    if (this.closed) throw new ClosedError();
    checkOptions(options);
    if (!this.hub) {
      this.hub = new SseFrontEnd(this.channel.id, { ...this.options, ...options }, (e) => this.core.report(e));
      this.off = this.core.subscribe(OP_TOPIC, (data, meta) => {
        const op = readOperation(data);
        if (!op) {
          this.core.report(
            new SseError(SseErrorCode.BAD_OPERATION, `dropped an unreadable SSE operation from "${meta.from}"`, { peer: meta.from }),
          );
          return;
        }
        try {
          this.hub?.apply(op);
        } catch (error) {
          // Data this front end cannot send (too large, unserializable): dropped, reported, nothing else harmed.
          const e =
            error instanceof SseError
              ? error
              : new SseError(SseErrorCode.BAD_OPERATION, `could not apply an SSE operation from "${meta.from}"`, { cause: error });
          this.core.report(
            new SseError(e.code as SseErrorCode, `${e.message} (operation from "${meta.from}", dropped)`, { cause: e, peer: meta.from }),
          );
        }
      });
    }
    return () => this.unserve();
  }

  /** Stops being an SSE front end and ends its streams. */
  unserve(): void {
    this.off?.();
    this.off = undefined;
    this.hub?.shutdown();
    this.hub = undefined;
  }

  /**
   * Accepts an SSE connection on any Node http/1 or http/2 request and response (plain
   * `node:http`, Express, Koa's `ctx.req`/`ctx.res`, Fastify's `request.raw`/`reply.raw`).
   * Returns the client, or undefined if that client was closed recently (answered 204).
   *
   * Options it cannot honour throw before anything happens (nothing is written to `res`, and the
   * service does not start serving): `InvalidOptionError` for an unknown key (such as `room`
   * for `rooms`) or a wrong type, `SseError` (`ERR_SSE_INVALID_FIELD`) for an `id` or room name
   * with CR, LF or NUL. Answer the request yourself then, unless your framework's error handler
   * answers a synchronous throw (Express's does; after Fastify's `reply.hijack()`, nothing does).
   */
  connect(
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    options?: SseConnectOptions,
  ): SseClient | undefined {
    // The front end checks them too; when this call would start serving, first: a bad call has no side effect.
    if (!this.hub) checkConnectOptions(options);
    this.serve();
    return (this.hub as SseFrontEnd).connect(req, res, options);
  }

  /** Open streams on this front end. */
  clients(): SseClient[] {
    return this.hub?.list() ?? [];
  }

  /** SSE front ends (service ids) this service can reach, itself first if it serves. */
  servers(): string[] {
    return this.core.servers(OP_TOPIC);
  }

  private sendOp(op: SseOperation): boolean {
    if (op.t === "send") this.checkData(op.data);
    const { ok, unknown } = this.core.publishTo(OP_TOPIC, op, { via: op.via });
    if (unknown.length > 0) {
      this.core.report(
        new SseError(
          SseErrorCode.UNKNOWN_SERVER,
          `via(${unknown.map((u) => JSON.stringify(u)).join(", ")}): not a linked SSE front end; the operation did not reach it`,
        ),
      );
    }
    return ok;
  }

  /**
   * Refuses at the call site what no front end could send, where that is cheap to know: data with
   * no JSON form (undefined, a function, a symbol), a string over `maxEventBytes`, a bigint over
   * the serializer's digit cap. Other data is checked by each front end after serializing
   * (dropped and reported there).
   */
  private checkData(data: unknown): void {
    if (hasNoJson(data)) throw noJson(data);
    const max = this.options.maxEventBytes ?? 1024 * 1024;
    if (typeof data === "string" && (data.length > max || Buffer.byteLength(data) > max)) {
      throw new SseError(SseErrorCode.TOO_LARGE, `SSE data of ${Buffer.byteLength(data)} bytes is over maxEventBytes (${max}); not sent`);
    }
    if (typeof data === "bigint") jsonSerializer(data);
  }
}

/** A channel with `message.sse`. */
export type WithSse<C> = C & { readonly sse: SseApi };

/**
 * Brings `sse` onto a channel: `withSse(channel).sse.send(...)`. Idempotent; the channel is
 * returned (not copied). `options` configure this service's SSE front end, if it becomes one;
 * a bad one (wrong type or range, unknown key, short `idKey`) throws `InvalidOptionError` here.
 *
 * @example
 * ```ts
 * const message = withSse(new MessageChannel({ id: "web-server-1" }));
 * message.sse.serve();
 * app.get("/events", (req, res) => message.sse.connect(req, res));
 * ```
 */
export function withSse<C extends ChannelLike>(channel: C, options?: SseFrontEndOptions): WithSse<C> {
  // Bad options (a short key, a non-numeric bound, a typo) fail here, at startup, not at the first browser's request.
  checkOptions(options);
  return extend(channel, "sse", () => new SseApi(channel, options));
}
