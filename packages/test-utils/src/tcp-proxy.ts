import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 between two services, for failure tests: it can cut every
 * connection through it, refuse new ones, or black-hole traffic (a silent dead link).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private refusing = false;
  private blackholed = false;
  /** Connections accepted so far. */
  accepted = 0;
  port = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = "127.0.0.1") {}

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
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
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

  /** Number of live connections. */
  get connections(): number {
    return this.pairs.size;
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
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on("data", (chunk) => {
        if (this.blackholed) return;
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
