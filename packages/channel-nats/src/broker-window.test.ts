import { ErrorCode, type ChannelError } from "@sfn/channel-core";
import { BrokerWindow, type OutboundMessage, type WindowDropReason } from "./broker-window.js";

function setup(options?: { maxMessages?: number; maxBytes?: number }) {
  const written: string[] = [];
  const drops: [string, number, WindowDropReason][] = [];
  let drains = 0;
  const window = new BrokerWindow(
    {
      write: (m) => written.push(new TextDecoder().decode(m.payload)),
      drop: (label, count, reason) => drops.push([label, count, reason]),
      drain: () => drains++,
    },
    options,
  );
  const msg = (text: string, label = "*"): OutboundMessage => ({ subject: "sfn.t.x", payload: new TextEncoder().encode(text), label });
  return { window, written, drops, msg, drains: () => drains };
}

it("writes straight through while connected", () => {
  const { window, written, msg } = setup();
  expect(window.publish(msg("a"))).toBe(true);
  expect(window.publish(msg("b"), { volatile: true })).toBe(true);
  expect(written).toEqual(["a", "b"]);
  expect(window.pendingMessages).toBe(0);
});

it("keeps what is published while the broker is away and writes it in order once it is back", () => {
  const { window, written, msg, drops } = setup();
  window.publish(msg("before"));
  window.disconnected();
  for (let i = 0; i < 5; i++) expect(window.publish(msg(`m${i}`))).toBe(true);
  expect(written).toEqual(["before"]);
  expect(window.pendingMessages).toBe(5);
  expect(window.pendingBytes).toBe(10);
  window.reconnected();
  expect(written).toEqual(["before", "m0", "m1", "m2", "m3", "m4"]);
  expect(window.pendingMessages).toBe(0);
  expect(window.publish(msg("after"))).toBe(true);
  expect(written.at(-1)).toBe("after");
  expect(drops).toEqual([]);
});

it("returns false from half full on, drops window-full at the cap, and drains after the flush", () => {
  const { window, written, msg, drops, drains } = setup({ maxMessages: 4 });
  window.disconnected();
  expect(window.publish(msg("1"))).toBe(true);
  expect(window.publish(msg("2"))).toBe(false); // half full: wait for drain
  expect(window.publish(msg("3"))).toBe(false);
  expect(window.publish(msg("4"))).toBe(false);
  expect(window.publish(msg("5", "rpc-2"))).toBe(false);
  expect(drops).toEqual([["rpc-2", 1, "window-full"]]);
  expect(drains()).toBe(0);
  window.reconnected();
  expect(written).toEqual(["1", "2", "3", "4"]);
  expect(drains()).toBe(1);
});

it("bounds the kept bytes too", () => {
  const { window, msg, drops } = setup({ maxBytes: 10 });
  window.disconnected();
  expect(window.publish(msg("abcd"))).toBe(true);
  expect(window.publish(msg("efgh"))).toBe(false);
  expect(window.publish(msg("ijkl"))).toBe(false);
  expect(drops).toEqual([["*", 1, "window-full"]]);
  expect(window.pendingBytes).toBe(8);
});

it("drops volatile messages while away instead of keeping them", () => {
  const { window, written, msg, drops } = setup();
  window.disconnected();
  expect(window.publish(msg("v"), { volatile: true })).toBe(false);
  window.reconnected();
  expect(written).toEqual([]);
  expect(drops).toEqual([["*", 1, "volatile"]]);
});

it("refuses a payload over the server's max_payload before any side effect, remembered while away", () => {
  const { window, written, msg, drops } = setup();
  window.setMaxPayload(8);
  window.setMaxPayload(undefined); // nats.js has no info while reconnecting: the last value stays
  const big = msg("123456789");
  let error: ChannelError | undefined;
  try {
    window.publish(big);
  } catch (e) {
    error = e as ChannelError;
  }
  expect(error?.code).toBe(ErrorCode.PAYLOAD);
  window.disconnected();
  expect(() => window.publish(big)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
  expect(() => window.publish({ ...msg("1234"), headerBytes: 5 })).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
  expect(window.pendingMessages).toBe(0);
  expect(written).toEqual([]);
  expect(drops).toEqual([]);
  expect(window.publish(msg("12345678"))).toBe(true);
});

it("reports what it still holds as disconnected on close, per label, and refuses more", () => {
  const { window, msg, drops, written } = setup();
  window.disconnected();
  window.publish(msg("a", "web-1"));
  window.publish(msg("b", "*"));
  window.publish(msg("c", "web-1"));
  window.close();
  expect(drops).toEqual([
    ["web-1", 2, "disconnected"],
    ["*", 1, "disconnected"],
  ]);
  window.reconnected();
  expect(written).toEqual([]);
  expect(() => window.publish(msg("d"))).toThrow(expect.objectContaining({ code: ErrorCode.CLOSED }));
});

it("rejects bad bounds with a typed error", () => {
  expect(() => setup({ maxMessages: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }));
  expect(() => setup({ maxBytes: Number.NaN })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }));
});
