import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/** One connection through the proxy: the dialling side and the target side. */
interface Pair {
  client: Socket;
  upstream: Socket;
  /** Half-open: nothing is forwarded, and a close on one side is not passed to the other. */
  frozen: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 between two services, for failure tests: it can cut every
 * connection through it, refuse new ones, black-hole traffic (a silent dead link), or leave
 * the connections of the moment half-open (each side keeps its socket, nothing gets through,
 * and neither side learns when the other closes).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private refusing = false;
  private blackholed = false;
  /** Connections accepted so far. */
  accepted = 0;
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = "127.0.0.1",
  ) {}

  /** Starts listening on a free port. */
  async start(port = 0): Promise<this> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** URL a channel dials to go through the proxy. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** Destroys every connection through the proxy at once (both directions). */
  cut(): number {
    const n = this.pairs.size;
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return n;
  }

  /**
   * Makes every connection open now half-open, for good: bytes stop in both directions and
   * neither socket is closed, nor closed when the other side closes its own (as when a peer
   * vanishes without a FIN). Connections made later are forwarded normally. Returns how many.
   */
  halfOpen(): number {
    let n = 0;
    for (const pair of this.pairs) {
      if (!pair.frozen) n++;
      pair.frozen = true;
    }
    return n;
  }

  /** Half-open connections whose target-side socket is still open (the target has not noticed yet). */
  get halfOpenAtTarget(): number {
    let n = 0;
    for (const p of this.pairs) if (p.frozen && !p.upstream.destroyed) n++;
    return n;
  }

  /** While true, new connections are closed at once. */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** While true, bytes are swallowed in both directions and connections stay open. */
  blackhole(on: boolean): void {
    this.blackholed = on;
  }

  /** Number of connections through the proxy (half-open ones included until both sides closed). */
  get connections(): number {
    return this.pairs.size;
  }

  /** Number of connections that forward traffic (not half-open). */
  get forwarding(): number {
    let n = 0;
    for (const p of this.pairs) if (!p.frozen) n++;
    return n;
  }

  /** Stops the proxy and cuts everything. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = connect(this.targetPort, this.targetHost);
    const pair: Pair = { client, upstream, frozen: false };
    this.pairs.add(pair);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      const end = (): void => {
        from.destroy();
        if (!pair.frozen) to.destroy();
        if (client.destroyed && upstream.destroyed) this.pairs.delete(pair);
      };
      from.on("data", (chunk) => {
        if (this.blackholed || pair.frozen) return;
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
      });
      from.on("error", end);
      from.on("close", end);
    }
  }
}
