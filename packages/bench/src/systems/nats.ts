import { connect } from "nats";
import type { System } from "./types.js";

const servers = (): string => (process.env.NATS_URL ?? "nats://127.0.0.1:4222").replace(/^nats:\/\//, "");
// Messages between flushes: bounds what the client buffers (it queues without bound otherwise).
const FLUSH_EVERY = 5_000;

/** NATS core pub/sub through the `nats` client. */
export const nats: System = {
  name: "nats core (nats.js)",
  async subscriber(topic, onPayload) {
    const nc = await connect({ servers: servers() });
    nc.subscribe(topic, { callback: (_err, msg) => onPayload(msg.data) });
    await nc.flush();
    return { sub: { close: () => nc.close() } };
  },
  async publisher(topic) {
    const nc = await connect({ servers: servers() });
    let sinceFlush = 0;
    return {
      publish: (payload) => {
        nc.publish(topic, payload);
        return ++sinceFlush < FLUSH_EVERY;
      },
      drain: async () => {
        sinceFlush = 0;
        await nc.flush();
      },
      flush: () => nc.flush(),
      close: () => nc.close(),
    };
  },
};
