import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { SseFrontEnd, type SseFrontEndOptions } from "./front-end.js";
import type { SseError } from "./errors.js";

/**
 * A response whose socket is full whenever `full` is set: `write` then returns false, and the
 * bytes wait (counted in `writableLength`, in bytes as Node counts written Buffers) until `drain()`.
 */
class FakeResponse extends EventEmitter {
  text = "";
  full = false;
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  writeHead(): void {}
  write(chunk: Uint8Array | string): boolean {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk);
    this.text += b.toString("utf8");
    if (!this.full) return true;
    this.writableLength += b.length;
    return false;
  }
  drain(): void {
    this.writableLength = 0;
    this.full = false;
    this.emit("drain");
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
    process.nextTick(() => this.emit("close")); // as Node does
  }
  /** The browser goes away. */
  hangUp(): void {
    this.emit("close");
  }
}

const request = (lastEventId?: string) =>
  ({ headers: lastEventId ? { "last-event-id": lastEventId } : {}, httpVersionMajor: 1 }) as unknown as IncomingMessage;

function frontEnd(options: SseFrontEndOptions = {}): { fe: SseFrontEnd; errors: SseError[] } {
  const errors: SseError[] = [];
  return { fe: new SseFrontEnd("web", { keepAlive: 0, ...options }, (e) => errors.push(e)), errors };
}

function open(fe: SseFrontEnd, lastEventId?: string) {
  const res = new FakeResponse();
  const client = fe.connect(request(lastEventId), res as unknown as ServerResponse)!;
  const lastId = [...res.text.matchAll(/^id: (.*)$/gm)].at(-1)![1]!;
  return { res, client, lastId };
}

const messages = (res: FakeResponse): string[] => [...res.text.matchAll(/^data: (m.*)$/gm)].map((m) => m[1]!);

describe("SSE front end, bytes and bounds", () => {
  it("counts maxBufferBytes in bytes, not UTF-16 code units", async () => {
    const { fe, errors } = frontEnd({ maxBufferBytes: 10_000 });
    const { res, client } = open(fe);
    res.full = true;
    fe.deliver(undefined, "first"); // the socket is full from here
    // 4,000 code units, 12,000 bytes: over the bound only when counted in bytes.
    fe.deliver(undefined, "€".repeat(4000));
    expect(await client.closed).toBe("slow");
    expect(res.destroyed).toBe(true);
    expect(errors.map((e) => e.code)).toEqual(["ERR_SSE_SLOW_CLIENT"]);
    fe.shutdown();
  });

  it("judges the bound when the turn ends: what the socket took by then was not waiting on the client", async () => {
    const { fe, errors } = frontEnd({ maxBufferBytes: 10_000 });
    const { res, client } = open(fe);
    res.full = true;
    for (let i = 0; i < 20; i++) fe.deliver(undefined, `m${i} ${"x".repeat(1000)}`);
    expect(client.open).toBe(true);
    res.drain(); // the socket takes it all as the turn ends
    await new Promise((r) => setImmediate(r));
    expect(client.open).toBe(true);
    expect(errors).toEqual([]);
    expect(messages(res).map((m) => m.split(" ")[0])).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    fe.shutdown();
  });

  it("keeps the history within historyBytes: 300 events of 512 KiB with nobody connected", () => {
    const { fe } = frontEnd();
    const big = "x".repeat(512 * 1024);
    for (let i = 0; i < 300; i++) fe.deliver(undefined, big);
    const usage = fe.historyUsage;
    expect(usage.bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(usage.events).toBeGreaterThan(0);
    expect(usage.events).toBeLessThan(16);
    fe.shutdown();
  });

  it("refuses an event over maxEventBytes before numbering or keeping it", () => {
    const { fe } = frontEnd({ maxEventBytes: 1000 });
    const { res } = open(fe);
    expect(() => fe.deliver("big", { pad: "é".repeat(600) })).toThrow(expect.objectContaining({ code: "ERR_SSE_TOO_LARGE" }));
    expect(() => fe.deliver(undefined, "y".repeat(5000))).toThrow(expect.objectContaining({ code: "ERR_SSE_TOO_LARGE" }));
    expect(fe.seq).toBe(0);
    expect(fe.historyUsage).toEqual({ events: 0, bytes: 0 });
    fe.deliver(undefined, "m-fits");
    expect(messages(res)).toEqual(["m-fits"]);
    fe.shutdown();
  });

  it("replays as the socket drains: one write at a time, never buffered past it, never cut", () => {
    // A buffer bound far below the gap: a replay written at once would cut the client.
    const { fe, errors } = frontEnd({ maxBufferBytes: 4096 });
    const first = open(fe);
    first.res.hangUp();
    for (let i = 0; i < 100; i++) fe.deliver(undefined, `m${i} ${"p".repeat(1000)}`);
    const { res, client } = (() => {
      const res = new FakeResponse();
      res.full = true; // a slow network: every write fills the socket
      const client = fe.connect(request(first.lastId), res as unknown as ServerResponse)!;
      return { res, client };
    })();
    expect(client.id).toBe(first.client.id);
    let drains = 0;
    while (client.replaying && drains < 1000) {
      // Never more than the write in flight waits: the replay does not run ahead of the socket.
      expect(res.writableLength).toBeLessThanOrEqual(1200);
      res.full = true;
      res.drain();
      drains++;
    }
    expect(client.replaying).toBe(false);
    expect(client.open).toBe(true);
    expect(errors).toEqual([]);
    expect(messages(res).map((d) => d.split(" ")[0])).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    fe.shutdown();
  });

  it("live events sent during a replay arrive in order, once", () => {
    const { fe } = frontEnd();
    const first = open(fe);
    first.res.hangUp();
    fe.deliver(undefined, "m1");
    fe.deliver(undefined, "m2");
    const res = new FakeResponse();
    res.full = true;
    const client = fe.connect(request(first.lastId), res as unknown as ServerResponse)!;
    expect(client.replaying).toBe(true);
    fe.deliver(undefined, "m3"); // live, while the replay waits for the socket
    client.send("m4");
    for (let i = 0; i < 10 && client.replaying; i++) res.drain();
    fe.deliver(undefined, "m5");
    expect(messages(res)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
    fe.shutdown();
  });

  it("replays a departed client's own events and its rooms' (from when it joined), not others'", () => {
    const { fe } = frontEnd();
    const a = open(fe);
    a.client.join("team");
    const b = open(fe);
    a.res.hangUp();
    fe.deliver(undefined, "m-to-a", [a.client.id]);
    fe.deliver(undefined, "m-to-team", undefined, ["team"]);
    fe.deliver(undefined, "m-all");
    fe.deliver(undefined, "x-to-b", [b.client.id]);
    fe.deliver(undefined, "x-to-other-room", undefined, ["other"]);
    fe.deliver(undefined, "x-to-a-as-room", undefined, [a.client.id]);
    const again = open(fe, a.lastId);
    expect(again.client.id).toBe(a.client.id);
    expect(messages(again.res)).toEqual(["m-to-a", "m-to-team", "m-all"]);
    fe.shutdown();
  });
});
