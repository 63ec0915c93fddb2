import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { System } from "./types.js";

const servers = (): string => process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const STREAM = "BENCH_RAW_JS";
const SUBJECTS = "bench-raw-js.>";
/** Publishes waiting for the server's acknowledgement at once: the same as SFN's durable default (`maxInFlight`). */
const IN_FLIGHT = 256;

/**
 * Raw JetStream through `@nats-io/jetstream` 3.x, the client SFN's durable mode is built on,
 * giving the same guarantees by hand: every publish stored and acknowledged by the server with a
 * `Nats-Msg-Id` (deduplicated), 256 awaiting acknowledgement at once; a durable pull consumer
 * acknowledging each message after the callback ran. No ordering across retries, no
 * redelivery recognition, no limits reporting: what durability costs without SFN.
 */
export const natsJetStream: System = {
  name: "raw JetStream (@nats-io/jetstream)",
  async subscriber(topic, onPayload) {
    const nc = await connect({ servers: servers() });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: STREAM, subjects: [SUBJECTS], max_msgs: 4_000_000 }).catch(() => jsm.streams.info(STREAM));
    const durable = `bench-sub-${process.pid}`;
    await jsm.consumers.add(STREAM, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: `bench-raw-js.${topic}`,
      max_ack_pending: 1000,
    });
    const consumer = await jetstream(nc).consumers.get(STREAM, durable);
    const messages = await consumer.consume({ max_messages: 256 });
    void (async () => {
      for await (const m of messages) {
        onPayload(m.data);
        m.ack();
      }
    })();
    return { sub: { close: () => messages.close().then(() => nc.close()) }, address: "" };
  },
  async publisher(topic) {
    const nc = await connect({ servers: servers() });
    const js = jetstream(nc);
    const subject = `bench-raw-js.${topic}`;
    const id = `${process.pid}-${Date.now()}`;
    let seq = 0;
    let inFlight = 0;
    const waiters: (() => void)[] = [];
    const settled = () => {
      inFlight--;
      if (inFlight < IN_FLIGHT / 2 || inFlight === 0) for (const w of waiters.splice(0)) w();
    };
    const publish = (payload: Uint8Array): boolean => {
      inFlight++;
      js.publish(subject, payload, { msgID: `${id}-${++seq}` }).then(settled, (error: unknown) => {
        settled();
        console.error(`raw JetStream publish failed: ${(error as Error).message}`);
      });
      return inFlight < IN_FLIGHT;
    };
    const below = (n: number) => (inFlight <= n ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))).then(() => undefined);
    return {
      publish,
      drain: () => below(IN_FLIGHT / 2),
      flush: async () => {
        while (inFlight > 0) await below(0);
      },
      close: async () => {
        while (inFlight > 0) await below(0);
        await nc.close();
      },
    };
  },
};
