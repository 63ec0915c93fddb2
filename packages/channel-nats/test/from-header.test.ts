import { connect, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, until, type NatsServer } from "@sfn/test-utils";
import { FromHeaderReader } from "../src/from-header.js";

// The sender's id is read from each message's Sfn-From header without parsing the header block
// of every message: real nats.js messages, several senders interleaved, and messages without it.

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

function withFrom(id: string): ReturnType<typeof headers> {
  const h = headers();
  h.set("Sfn-From", id);
  return h;
}

it("reads the header of every message right, senders interleaved, more of them than it remembers", async () => {
  const got: Msg[] = [];
  nc.subscribe("from.test", { callback: (err, msg) => void (err || got.push(msg)) });
  await nc.flush();
  // 12 senders (more than the 8 remembered blocks), ids of equal length, interleaved; some messages carry no header.
  const sent: (string | undefined)[] = [];
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 12; i++) {
      const id = `svc-${String(i).padStart(2, "0")}`;
      nc.publish("from.test", "x", { headers: withFrom(id) });
      sent.push(id);
    }
    nc.publish("from.test", "no header");
    sent.push(undefined);
    const other = headers();
    other.set("Other", "value");
    nc.publish("from.test", "another header", { headers: other });
    sent.push(undefined);
  }
  await nc.flush();
  await until(() => got.length === sent.length);
  const reader = new FromHeaderReader("Sfn-From");
  expect(got.map((m) => reader.read(m))).toEqual(sent);
  // Read again, now from remembered blocks for the last senders: the same answers.
  expect(got.map((m) => reader.read(m))).toEqual(sent);
});

it("takes the fast path with this nats.js (the raw header block is where the reader looks for it)", async () => {
  let msg: Msg | undefined;
  nc.subscribe("from.raw", { callback: (err, m) => void (err || (msg = m)), max: 1 });
  await nc.flush();
  nc.publish("from.raw", "x", { headers: withFrom("svc") });
  await until(() => msg !== undefined);
  const raw = msg as unknown as { _rdata?: unknown; _msg?: { hdr?: unknown } };
  expect(raw._rdata).toBeInstanceOf(Uint8Array);
  expect(typeof raw._msg?.hdr).toBe("number");
  expect(Buffer.from((raw._rdata as Uint8Array).subarray(0, raw._msg!.hdr as number)).toString()).toBe("NATS/1.0\r\nSfn-From: svc\r\n\r\n");
});

it("falls back to msg.headers for a message object without nats.js's raw fields", () => {
  const reader = new FromHeaderReader("Sfn-From");
  const h = withFrom("plain");
  expect(reader.read({ headers: h } as unknown as Msg)).toBe("plain");
  expect(reader.read({ headers: undefined } as unknown as Msg)).toBeUndefined();
});
