import { Redis } from "ioredis";
import type { System } from "./types.js";

const url = (): string => process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
// Outstanding PUBLISH commands before the publisher waits (ioredis queues without bound otherwise).
const MAX_INFLIGHT = 10_000;

/** Redis pub/sub through ioredis, with auto-pipelining (its fastest mode). */
export const redis: System = {
  name: "redis pub/sub (ioredis)",
  async subscriber(topic, onPayload) {
    const sub = new Redis(url(), { lazyConnect: true });
    await sub.connect();
    sub.on("messageBuffer", (_ch: Buffer, msg: Buffer) => onPayload(msg));
    await sub.subscribe(topic);
    return { sub: { close: async () => void (await sub.quit()) } };
  },
  async publisher(topic) {
    const pub = new Redis(url(), { lazyConnect: true, enableAutoPipelining: true });
    await pub.connect();
    let inflight = 0;
    let waiter: (() => void) | undefined;
    const settle = (): void => {
      inflight--;
      if (waiter && inflight <= MAX_INFLIGHT / 2) {
        const w = waiter;
        waiter = undefined;
        w();
      }
    };
    return {
      publish: (payload) => {
        inflight++;
        pub.publish(topic, payload).then(settle, settle);
        return inflight < MAX_INFLIGHT;
      },
      drain: () => new Promise<void>((r) => (inflight <= MAX_INFLIGHT / 2 ? r() : (waiter = r))),
      flush: async () => {
        while (inflight > 0) await new Promise((r) => setTimeout(r, 2));
      },
      close: async () => void (await pub.quit()),
    };
  },
};
