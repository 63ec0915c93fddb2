import { AckPolicy, DeliverPolicy, DiscardPolicy } from "@nats-io/jetstream";
import { durableConsumerConfig, durableStreamConfig, versionAtLeast } from "./durable.js";
import { SubjectSpace } from "./subjects.js";

describe("versionAtLeast", () => {
  it("compares nats-server versions numerically", () => {
    expect(versionAtLeast("2.9.10", "2.9.0")).toBe(true);
    expect(versionAtLeast("2.10.1", "2.9.0")).toBe(true);
    expect(versionAtLeast("2.9.0", "2.9.0")).toBe(true);
    expect(versionAtLeast("2.8.4", "2.9.0")).toBe(false);
    expect(versionAtLeast("2.9.0-beta.1", "2.9.0")).toBe(true);
    expect(versionAtLeast(undefined, "2.9.0")).toBe(false);
    expect(versionAtLeast("garbage", "2.9.0")).toBe(false);
  });
});

describe("durable stream and consumer configurations", () => {
  const space = new SubjectSpace("prod");

  it("one stream per namespace on its durable subjects, with the window's limits (ms to ns), discarding the oldest", () => {
    expect(durableStreamConfig(space, { replicas: 3 }, { maxMessages: 10, maxBytes: 2048, maxAge: 60_000 })).toMatchObject({
      name: "SFN_prod",
      subjects: ["sfn.prod.d.>"],
      max_msgs: 10,
      max_bytes: 2048,
      max_age: 60_000_000_000,
      discard: DiscardPolicy.Old,
      num_replicas: 3,
      duplicate_window: 60_000_000_000,
    });
    expect(durableStreamConfig(space, { stream: "ORDERS" }, { maxMessages: 1, maxBytes: 1, maxAge: 0 })).toMatchObject({
      name: "ORDERS",
      max_age: 0,
      num_replicas: 1,
      duplicate_window: 120_000_000_000,
    });
  });

  it("one consumer per service id with a single filter subject (nats-server 2.9), inactive after resumeTimeout", () => {
    const c = durableConsumerConfig(space, "web.server 1", { resumeTimeout: 5000, ackWait: 1000, maxAckPending: 7 });
    expect(c).toEqual({
      durable_name: "~d2ViLnNlcnZlciAx",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: "sfn.prod.d.>",
      ack_wait: 1_000_000_000,
      max_ack_pending: 7,
      inactive_threshold: 5_000_000_000,
    });
    expect(c).not.toHaveProperty("filter_subjects");
  });

  it("refuses options that are not positive numbers", () => {
    expect(() => durableConsumerConfig(space, "x", { resumeTimeout: 0 })).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    expect(() => durableConsumerConfig(space, "x", { ackWait: Number.NaN })).toThrow(/ackWait/);
  });
});
