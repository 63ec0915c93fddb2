import { connect } from "@nats-io/transport-node";
import type { System } from "./types.js";

// Messages between flushes: bounds what the client buffers (it queues without bound otherwise).
// The same policy as SFN over NATS in this benchmark (see sfn-nats.ts).
export const FLUSH_EVERY = 5_000;

/** What the benchmark uses of a NATS client connection: the same in `nats` 2.x and `@nats-io/*` 3.x. */
interface NatsLike {
  subscribe(subject: string, opts: { callback: (err: unknown, msg: { data: Uint8Array }) => void }): unknown;
  publish(subject: string, data: Uint8Array): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** NATS core pub/sub through a nats.js client, the payload bytes as they are. */
export function natsSystem(name: string, open: () => Promise<NatsLike>): System {
  return {
    name,
    async subscriber(topic, onPayload) {
      const nc = await open();
      nc.subscribe(topic, { callback: (_err, msg) => onPayload(msg.data) });
      await nc.flush();
      return { sub: { close: () => nc.close() }, address: "" };
    },
    async publisher(topic) {
      const nc = await open();
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
}

/**
 * Raw NATS core pub/sub through `@nats-io/transport-node` 3.x: the client SFN's NATS router is
 * built on, without SFN (no headers, no encoding).
 */
export const natsJs: System = natsSystem("raw nats.js (@nats-io/transport-node)", () =>
  connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" }),
);
