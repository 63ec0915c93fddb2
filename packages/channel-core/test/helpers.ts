import { MessageChannel, type MessageChannelOptions } from "../src/index.js";

/** Channels opened by a test, closed in afterEach. */
export class Mesh {
  readonly channels: MessageChannel[] = [];

  channel(id: string, options: Partial<MessageChannelOptions> = {}): MessageChannel {
    const ch = new MessageChannel({
      id,
      reconnect: { initialDelay: 20, maxDelay: 200 },
      ...options,
    });
    // Tests assert on errors explicitly; an unasserted error must not become a warning.
    ch.on("error", () => {});
    this.channels.push(ch);
    return ch;
  }

  /** A listening channel; resolves with it and its URL. */
  async listening(id: string, options: Partial<MessageChannelOptions> = {}): Promise<{ ch: MessageChannel; url: string; port: number }> {
    const ch = this.channel(id, options);
    const { url, port } = await ch.listen({ port: 0 });
    return { ch, url, port };
  }

  async close(): Promise<void> {
    await Promise.all(this.channels.splice(0).map((c) => c.close({ drainTimeout: 0 })));
  }
}

/** Collects what a subscriber receives. */
export function collect<T = unknown>(ch: MessageChannel, pattern: string): { data: T[]; from: string[] } {
  const out = { data: [] as T[], from: [] as string[] };
  ch.subscribe(pattern, (d, meta) => {
    out.data.push(d as T);
    out.from.push(meta.from);
  });
  return out;
}
