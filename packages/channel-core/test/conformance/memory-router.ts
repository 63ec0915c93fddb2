/**
 * An in-memory router: channels of one process reach each other through a shared bus, with
 * no sockets. It proves the seam carries everything a channel needs (the conformance suite
 * runs against it) and lets routing tests run without a network.
 */
import { PayloadError, type PeerInfo, matchTopic } from "@sfn/channel-core";
import { decodeMessageBody, type RoutePublishOptions, type Router, type RouterHost } from "@sfn/channel-core/internal";

const MAX_PAYLOAD = 1024 * 1024;

/** Channels whose routers share a bus reach each other. */
export class MemoryBus {
  readonly routers = new Set<MemoryRouter>();

  router(): MemoryRouter {
    return new MemoryRouter(this);
  }
}

export class MemoryRouter implements Router {
  private host!: RouterHost;
  private readonly patterns = new Set<string>();
  private closed = false;

  constructor(private readonly bus: MemoryBus) {}

  get id(): string {
    return this.host.id;
  }

  attach(host: RouterHost): void {
    this.host = host;
    for (const other of this.bus.routers) {
      other.host.linkUp({ peer: host.id, resumed: false, direction: "inbound", url: undefined });
      host.linkUp({ peer: other.id, resumed: false, direction: "outbound", url: undefined });
    }
    this.bus.routers.add(this);
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  interest(change: "sub" | "unsub", pattern: string): void {
    if (change === "sub") this.patterns.add(pattern);
    else this.patterns.delete(pattern);
  }

  private wants(topic: string): boolean {
    for (const p of this.patterns) if (matchTopic(p, topic)) return true;
    return false;
  }

  checkPayload(topic: string, body: Buffer): void {
    if (body.length > MAX_PAYLOAD) throw new PayloadError(`message on "${topic}" is ${body.length} bytes, over ${MAX_PAYLOAD}`);
  }

  publish(topic: string, body: Buffer, options: RoutePublishOptions): boolean {
    const { to } = options;
    for (const id of to ?? []) {
      if (![...this.bus.routers].some((r) => r.id === id)) this.host.drop(id, 1, "no-link");
    }
    for (const r of this.bus.routers) {
      if (r === this || (to && !to.has(r.id)) || !r.wants(topic)) continue;
      // Asynchronous like any network, and through the same decoding a broker's bytes get.
      const copy = Buffer.from(body);
      setImmediate(() => {
        if (r.closed) return;
        const message = decodeMessageBody(copy);
        r.host.deliver(message.topic, message.data, this.id);
      });
    }
    return true;
  }

  servers(topic: string): string[] {
    return [...this.bus.routers].filter((r) => r !== this && r.wants(topic)).map((r) => r.id);
  }

  peers(): PeerInfo[] {
    return [...this.bus.routers]
      .filter((r) => r !== this)
      .map((r) => ({
        id: r.id,
        state: "up",
        direction: "outbound",
        url: undefined,
        subscriptions: r.patterns.size,
        pendingMessages: 0,
        pendingBytes: 0,
        sent: 0,
        received: 0,
        resent: 0,
        dropped: {},
        resumes: 0,
      }));
  }

  drain(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.bus.routers.delete(this);
    for (const other of this.bus.routers) other.host.linkDown({ peer: this.id, reason: "peer-closed", error: undefined });
  }
}
