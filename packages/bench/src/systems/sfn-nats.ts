import { MessageChannel } from "@sfn/channel-core";
import { nats } from "@sfn/channel-nats";
import { FLUSH_EVERY } from "./nats-js.js";
import type { System } from "./types.js";

const servers = (): string => process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const NAMESPACE = "bench";

/**
 * SFN Channel over NATS: `MessageChannel` with the `nats()` router, on the same server and
 * client as raw nats.js. The subscriber's address is its service id; the publisher waits until
 * presence has heard every subscriber.
 */
export const sfnNats: System = {
  name: "sfn-channel over NATS",
  async subscriber(topic, onPayload) {
    const id = `bench-sub-${process.pid}`;
    const ch = new MessageChannel({ id, router: nats({ servers: servers(), namespace: NAMESPACE }) });
    ch.subscribe(topic, (data) => onPayload(data as Uint8Array));
    await ch.ready();
    return { sub: { close: () => ch.close({ drainTimeout: 0 }) }, address: id };
  },
  async publisher(topic, address) {
    const router = nats({ servers: servers(), namespace: NAMESPACE });
    const ch = new MessageChannel({ id: `bench-pub-${process.pid}`, router });
    await ch.ready();
    const subscribers = (address ?? "").split(",").filter(Boolean);
    while (!subscribers.every((id) => ch.peers().some((p) => p.id === id))) await new Promise((r) => setTimeout(r, 20));
    // The channel's own backpressure (publish() false) covers the broker being away; on a live
    // connection nats.js queues without bound, so flush as often as raw nats.js does. The
    // router's drain() is the flush that close() uses (a PING/PONG round trip to the server).
    const flush = (): Promise<void> => router.drain(60_000);
    let sinceFlush = 0;
    return {
      publish: (payload) => ch.publish(topic, payload) && ++sinceFlush < FLUSH_EVERY,
      drain: async () => {
        sinceFlush = 0;
        await flush();
      },
      flush,
      close: () => ch.close(),
    };
  },
};
