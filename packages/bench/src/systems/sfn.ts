import { once } from "node:events";
import { MessageChannel } from "@sfn/channel-core";
import type { System } from "./types.js";

/** SFN Channel: the subscriber listens, the publisher dials it (a direct link, no broker). */
export const sfn: System = {
  name: "sfn-channel",
  async subscriber(topic, onPayload) {
    const ch = new MessageChannel({ id: "bench-sub" });
    ch.subscribe(topic, (data) => onPayload(data as Uint8Array));
    const { url } = await ch.listen({ port: 0 });
    return { sub: { close: () => ch.close({ drainTimeout: 0 }) }, address: url };
  },
  async publisher(topic, address) {
    const ch = new MessageChannel({ id: "bench-pub" });
    await ch.connect(address as string);
    while ((ch.peers()[0]?.subscriptions ?? 0) < 1) await new Promise((r) => setTimeout(r, 5));
    return {
      publish: (payload) => ch.publish(topic, payload),
      drain: async () => {
        await once(ch, "drain");
      },
      flush: async () => {
        while ((ch.peers()[0]?.pendingMessages ?? 0) > 0) await new Promise((r) => setTimeout(r, 2));
      },
      close: () => ch.close(),
    };
  },
};
