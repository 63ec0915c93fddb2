import { MessageChannel } from "@sfn/channel-core";
import { nats } from "@sfn/channel-nats";
import type { System } from "./types.js";

const servers = (): string => process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const NAMESPACE = "bench-durable";
// The stream holds the whole run: what a limit discarded would show up as lost, not as speed.
const window = { maxMessages: 4_000_000, maxBytes: 2 * 1024 * 1024 * 1024 };

/**
 * SFN Channel over NATS in durable mode (`nats({ durable: true })`, JetStream): every publish
 * stored in the stream and acknowledged by the server, every delivery acknowledged after the
 * listener ran. Needs a JetStream server (the durable section starts one).
 */
export const sfnDurable: System = {
  name: "sfn-channel over NATS, durable",
  async subscriber(topic, onPayload) {
    const id = `bench-dsub-${process.pid}`;
    const ch = new MessageChannel({ id, router: nats({ servers: servers(), namespace: NAMESPACE, durable: true, window }) });
    ch.subscribe(topic, (data) => onPayload(data as Uint8Array));
    await ch.ready(); // its consumer exists from here on
    return { sub: { close: () => ch.close({ drainTimeout: 0 }) }, address: id };
  },
  async publisher(topic, address) {
    const router = nats({ servers: servers(), namespace: NAMESPACE, durable: true, window });
    const ch = new MessageChannel({ id: `bench-dpub-${process.pid}`, router });
    await ch.ready();
    const subscribers = (address ?? "").split(",").filter(Boolean);
    while (!subscribers.every((id) => ch.peers().some((p) => p.id === id))) await new Promise((r) => setTimeout(r, 20));
    // publish() turns false from half the window waiting for acknowledgements; drain() waits
    // until the server acknowledged everything published (what close() waits for too).
    let drained: (() => void) | undefined;
    ch.on("drain", () => drained?.());
    return {
      publish: (payload) => ch.publish(topic, payload),
      drain: () =>
        new Promise<void>((resolve) => {
          drained = resolve;
          // Already below the low-water mark: nothing to wait for.
          if ((ch.peers()[0]?.pendingMessages ?? 0) * 4 < window.maxMessages) resolve();
        }),
      flush: () => router.drain(120_000),
      close: () => ch.close({ drainTimeout: 120_000 }),
    };
  },
};
