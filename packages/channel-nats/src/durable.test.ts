import { AckPolicy, DeliverPolicy, DiscardPolicy } from "@nats-io/jetstream";
import { encodeMessageBody } from "@sfn/channel-core/internal";
import { until } from "@sfn/test-utils";
import { Durable, durableConsumerConfig, durableStreamConfig, versionAtLeast } from "./durable.js";
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
      max_ack_pending: 7 + 65_536, // the listeners' share, plus what may be held back for order
      inactive_threshold: 5_000_000_000,
    });
    expect(c).not.toHaveProperty("filter_subjects");
    expect(durableConsumerConfig(space, "x", {}, { maxMessages: 10 }).max_ack_pending).toBe(1010);
  });

  it("refuses options that are not positive numbers", () => {
    expect(() => durableConsumerConfig(space, "x", { resumeTimeout: 0 })).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    expect(() => durableConsumerConfig(space, "x", { ackWait: Number.NaN })).toThrow(/ackWait/);
  });
});

describe("Durable consumer side: once and in order per publisher", () => {
  interface FakeMsg {
    subject: string;
    data: Uint8Array;
    headers: { get(name: string): string };
    info: { streamSequence: number };
    acked: number;
    ack(): void;
  }
  let streamSeq = 0;
  function msg(pub: string, seq: number, data: unknown, sseq = ++streamSeq): FakeMsg {
    const h: Record<string, string> = { "Sfn-From": `svc-${pub}`, "Sfn-Pub": pub, "Sfn-Seq": String(seq) };
    return {
      subject: "sfn.prod.d.t",
      data: encodeMessageBody("t", data),
      headers: { get: (name) => h[name] ?? "" },
      info: { streamSequence: sseq },
      acked: 0,
      ack() {
        this.acked++;
      },
    };
  }
  function consumer(gapTimeout = 1000) {
    streamSeq = 0;
    const got: unknown[] = [];
    const drops: unknown[] = [];
    const d = new Durable(
      {
        id: "me",
        instance: "me-1",
        deliver: (_topic, data) => got.push(data),
        drop: (...args) => drops.push(args),
        drained: () => {},
        report: (e) => {
          throw e;
        },
      },
      new SubjectSpace("prod"),
      { gapTimeout },
      { maxMessages: 100, maxBytes: 1 << 20, maxAge: 0 },
    );
    const receive = (m: FakeMsg) => (d as unknown as { receive(m: FakeMsg): void }).receive(m);
    return { d, got, drops, receive };
  }

  afterEach(() => jest.useRealTimers());

  it("hands a redelivered or twice-stored message over once, acknowledging every copy", () => {
    const { got, receive } = consumer();
    const copies = [msg("a", 1, "one"), msg("a", 1, "one"), msg("a", 2, "two"), msg("a", 1, "one")];
    for (const m of copies) receive(m);
    expect(got).toEqual(["one", "two"]);
    expect(copies.map((m) => m.acked)).toEqual([1, 1, 1, 1]);
  });

  it("holds a message that overtook an earlier one of its publisher, unacknowledged, until the earlier one comes", () => {
    const { got, receive } = consumer();
    receive(msg("a", 1, 1));
    const three = msg("a", 3, 3);
    receive(three);
    receive(msg("b", 7, "b7")); // other publishers are not held up
    expect(got).toEqual([1, "b7"]);
    expect(three.acked).toBe(0);
    receive(msg("a", 2, 2));
    expect(got).toEqual([1, "b7", 2, 3]);
    expect(three.acked).toBe(1);
  });

  it("goes on after gapTimeout, and hands the missing one over late if it still comes", () => {
    jest.useFakeTimers();
    const { d, got, receive } = consumer(1000);
    receive(msg("a", 1, 1));
    receive(msg("a", 3, 3));
    jest.advanceTimersByTime(999);
    expect(got).toEqual([1]);
    jest.advanceTimersByTime(1);
    expect(got).toEqual([1, 3]);
    receive(msg("a", 2, 2));
    receive(msg("a", 2, 2));
    expect(got).toEqual([1, 3, 2]);
    void d.close();
  });

  it("reads what the server skipped from the stream by sequence (a 2.9 consumer failover losing it); reports what is gone", async () => {
    const { d, got, drops, receive } = consumer(400); // checks skipped stream sequences after 100 ms
    const two = msg("a", 2, "two", 2); // stream seq 2: still in the stream
    (d as unknown as { jsm: unknown }).jsm = {
      streams: {
        info: async () => ({ state: { first_seq: 1 } }),
        // Stream seq 3 is gone (deleted by a limit between the two calls): null.
        getMessage: async (_stream: string, { seq }: { seq: number }) =>
          seq === 2 ? { subject: two.subject, data: two.data, header: two.headers, seq: 2 } : null,
      },
    };
    receive(msg("a", 1, "one", 1));
    receive(msg("a", 3, "three", 4)); // stream seqs 2 and 3 never delivered
    await until(() => got.length === 3 && drops.length === 1, 5000, "the skipped message read from the stream");
    expect(got).toEqual(["one", "two", "three"]);
    expect(drops).toEqual([["*", 1, "window-full"]]);
    await d.close();
  });

  it("does not hand a service its own messages (the channel delivered them locally)", () => {
    const { got, receive } = consumer();
    const own = msg("me-1", 1, "own");
    receive(own);
    expect(got).toEqual([]);
    expect(own.acked).toBe(1);
  });
});
