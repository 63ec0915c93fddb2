import { connect } from "@nats-io/transport-node";
import type { System } from "./types.js";

// Messages between flushes: bounds what the client buffers (it queues without bound otherwise).
// The same policy as SFN over NATS in this benchmark (see sfn-nats.ts).
export const FLUSH_EVERY = 5_000;

const servers = (): string => process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/**
 * Raw NATS core pub/sub through `@nats-io/transport-node` 3.x: the client SFN's NATS router is
 * built on, without SFN (no headers, no encoding, the payload bytes as they are).
 */
export const natsJs: System = {
  name: "raw nats.js (@nats-io/transport-node)",
  async subscriber(topic, onPayload) {
    const nc = await connect({ servers: servers() });
    nc.subscribe(topic, { callback: (_err, msg) => onPayload(msg.data) });
    await nc.flush();
    return { sub: { close: () => nc.close() }, address: "" };
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
