import { once } from "node:events";
import { MessageChannel } from "@sfn/channel-core";
import type { System } from "./types.js";

/**
 * SFN Channel: each subscriber listens, the publisher dials them (direct links, no broker);
 * `address` is one URL, or several joined with commas (fan-out).
 */
export const sfn: System = makeSfn(false);

/**
 * SFN Channel with volatile publishes: no resume window, no acknowledgements. Here only to
 * show what the window costs; a volatile message refused by a full socket is published again.
 */
export const sfnVolatile: System = makeSfn(true);

function makeSfn(volatile: boolean): System {
  return {
    name: volatile ? "sfn-channel, volatile (no window)" : "sfn-channel",
    async subscriber(topic, onPayload) {
      const ch = new MessageChannel({ id: `bench-sub-${process.pid}` });
      ch.subscribe(topic, (data) => onPayload(data as Uint8Array));
      const { url } = await ch.listen({ port: 0 });
      return { sub: { close: () => ch.close({ drainTimeout: 0 }) }, address: url };
    },
    async publisher(topic, address) {
      const ch = new MessageChannel({ id: "bench-pub" });
      for (const url of (address as string).split(",")) await ch.connect(url);
      let refused: Buffer | undefined;
      return {
        publish: (payload) => {
          if (!volatile) return ch.publish(topic, payload);
          if (ch.publish(topic, payload, { volatile: true })) return true;
          refused = payload;
          return false;
        },
        drain: async () => {
          await once(ch, "drain");
          while (refused && !ch.publish(topic, refused, { volatile: true })) await once(ch, "drain");
          refused = undefined;
        },
        flush: async () => {
          while (ch.peers().some((p) => p.pendingMessages > 0)) await new Promise((r) => setTimeout(r, 2));
        },
        close: () => ch.close(),
      };
    },
  };
}
