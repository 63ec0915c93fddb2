import createDebug from "debug";
import { backoffDelay, type Backoff } from "./backoff.js";
import { ConnectError, ErrorCode, type ChannelError } from "./errors.js";
import type { LinkDownReason } from "./types.js";

const debug = createDebug("sfn:channel:dialer");

/** Errors that no retry can fix while both sides keep their configuration. */
const FATAL: ReadonlySet<string> = new Set([
  ErrorCode.AUTH_FAILED,
  ErrorCode.AUTH_REQUIRED,
  ErrorCode.IDENTITY,
  ErrorCode.DUPLICATE_ID,
  ErrorCode.PROTOCOL_VERSION,
]);

/** What a dialer needs from the channel. */
export interface DialerHost {
  readonly backoff: Backoff;
  /** Opens a transport connection to `url` and starts its handshake. */
  dial(url: string, dialer: Dialer): Promise<void>;
  /** Resolves once the link to `peer` is down (used after losing a simultaneous-dial tie-break). */
  linkDown(peer: string): Promise<void>;
  /** True while a link to `peer` is open, over whichever connection. */
  isUp(peer: string): boolean;
  /** Reports an error that happened in the background. */
  report(error: ChannelError): void;
}

/**
 * Keeps one outbound link alive: dials, and after any failure dials again with jittered
 * exponential backoff, until stopped. The first connection may fail fast (`connect` rejects);
 * once a link was established, it never gives up on its own.
 */
export class Dialer {
  /** Peer id behind the URL, once known. */
  peer: string | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private stopped = false;
  private established = false;
  // Why the last attempt failed, for the first connect's timeout: a bad certificate or a
  // refused TCP connection is retried like any failure, and the caller should learn which.
  private lastError: unknown;
  private settle: { resolve: () => void; reject: (e: ChannelError) => void } | undefined;

  constructor(
    private readonly host: DialerHost,
    readonly url: string,
  ) {}

  /** Dials until the first link is up (resolves), a refusal or `timeout` (rejects). */
  start(timeout: number): Promise<void> {
    const first = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.deadline = setTimeout(() => {
      const last = this.lastError as Error | undefined;
      this.stop(
        new ConnectError(`could not link to ${this.url} within ${timeout} ms${last?.message ? ` (last attempt: ${last.message})` : ""}`, {
          cause: last,
        }),
      );
    }, timeout);
    this.dialNow();
    return first;
  }

  /** Stops for good. */
  stop(reason?: ChannelError): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    if (this.settle) {
      this.settle.reject(reason ?? new ConnectError(`link to ${this.url} was stopped before it was established`));
      this.settle = undefined;
    }
  }

  /** True once stopped. */
  get done(): boolean {
    return this.stopped;
  }

  /** The link came up. */
  up(peer: string): void {
    this.peer = peer;
    this.established = true;
    this.attempt = 0;
    clearTimeout(this.deadline);
    this.settle?.resolve();
    this.settle = undefined;
  }

  /** A connection this dialer opened to `peer` (if it told its id) is gone, or could not be opened. */
  down(reason: LinkDownReason, error: ChannelError | undefined, peer?: string): void {
    if (this.stopped) return;
    if (peer !== undefined) this.peer = peer;
    if (error) this.lastError = error;
    if (reason === "peer-disconnected") {
      debug("%s: peer ended the link for good", this.url);
      this.stop(new ConnectError(`peer at ${this.url} ended the link`, { cause: error }));
      return;
    }
    if (error && FATAL.has(error.code) && !this.established) {
      this.stop(error);
      return;
    }
    // An error here was reported with the link's end already (MeshRouter.linkClosed): once.
    if (reason === "superseded" && this.peer) {
      // Another connection between the same two services carries the link (the peer dialled
      // us too and won the tie-break): count it as ours, and stand by until it goes down.
      const peerId = this.peer;
      if (this.host.isUp(peerId)) this.up(peerId);
      void this.host.linkDown(peerId).then(() => this.retry());
      return;
    }
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = backoffDelay(this.host.backoff, this.attempt++);
    debug("%s: reconnecting in %d ms (attempt %d)", this.url, delay, this.attempt);
    this.timer = setTimeout(() => this.dialNow(), delay);
  }

  private dialNow(): void {
    if (this.stopped) return;
    this.host.dial(this.url, this).catch((error: unknown) => {
      debug("%s: dial failed: %s", this.url, (error as Error)?.message);
      this.lastError = error;
      // A URL the transport cannot dial at all: the first connect fails at once, not at its timeout.
      if ((error as ChannelError | undefined)?.code === ErrorCode.INVALID_OPTION && !this.established) {
        this.stop(error as ChannelError);
        return;
      }
      this.retry();
    });
  }
}
