// What the publisher refuses at the call, with a typed error and nothing sent: bad operator
// arguments, operations a front end would refuse, and every operation on a closed channel.
import { type ChannelError, ClosedError, InvalidOptionError, MessageChannel } from "@sfn/channel-core";
import { withWs, type WithWs } from "../src/index.js";
import { type Client, type FrontEnd, connect, startFrontEnd, until } from "./harness.js";

let web: FrontEnd;
let message: WithWs<MessageChannel>;
let client: Client;
// Everything the front end reported (an operation it dropped, or Socket.IO refusing one).
const reported: ChannelError[] = [];

beforeAll(async () => {
  web = await startFrontEnd("web-args");
  web.channel.on("error", (e) => reported.push(e));
  message = withWs(new MessageChannel({ id: "rpc-args" }));
  await message.connect(web.url);
  await until(() => message.ws.servers().includes("web-args"), 10_000, "front end linked");
  client = await connect(web.port);
});

afterAll(async () => {
  client?.socket.disconnect();
  await message?.close({ drainTimeout: 0 });
  await web?.close();
});

/** Sends a marker along the same path and waits until the client got it: anything earlier has arrived. */
async function flushed(): Promise<void> {
  const tag = Math.random().toString(36).slice(2);
  expect(message.ws.emit("marker", tag)).toBe(true);
  await until(() => client.got("marker").some((a) => a[0] === tag), 10_000, "marker");
}

const invalid = (what: RegExp) =>
  expect.objectContaining({ name: "InvalidOptionError", code: "ERR_INVALID_OPTION", message: expect.stringMatching(what) });

describe("bad operator arguments throw InvalidOptionError at the call", () => {
  it("rooms and front ends must be strings or arrays of strings", () => {
    const ws = message.ws as unknown as Record<string, (v: unknown) => unknown>;
    for (const op of ["to", "in", "except", "via", "socketsJoin", "socketsLeave"]) {
      for (const bad of [123, undefined, null, { room: "a" }, ["a", 5]]) {
        expect(() => ws[op]!.call(message.ws, bad)).toThrow(InvalidOptionError);
        expect(() => ws[op]!.call(message.ws, bad)).toThrow(invalid(new RegExp(`^${op}\\(`)));
      }
    }
    expect(() => (message.ws.of as (v: unknown) => unknown)(5)).toThrow(invalid(/^of\(namespace\)/));
    // Empty lists and strings stay valid, as in Socket.IO.
    expect(() => message.ws.to([]).except("").in(["a", "b"])).not.toThrow();
  });

  it("timeout takes a positive finite number of ms", () => {
    for (const bad of [-5, 0, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, "abc", "100", undefined]) {
      expect(() => message.ws.timeout(bad as number)).toThrow(invalid(/^timeout\(ms\)/));
    }
    expect(() => message.ws.timeout(0.5).timeout(2000)).not.toThrow();
  });

  it("a refused step leaves the chain it was called on unchanged", async () => {
    const base = message.ws.to("nobody-here");
    expect(() => base.to(7 as unknown as string)).toThrow(InvalidOptionError);
    expect(() => base.timeout(-1)).toThrow(InvalidOptionError);
    expect(await base.timeout(2000).fetchSockets()).toEqual([]);
  });
});

describe("operations a front end would refuse are refused by the publisher, and nothing is sent", () => {
  it("reserved event names, a non-string event name, a non-boolean flag, a callback", async () => {
    const ws = message.ws;
    const reportedBefore = reported.length;
    for (const ev of ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]) {
      expect(() => ws.emit(ev, 1)).toThrow(invalid(new RegExp(`"${ev}" is a reserved event name`)));
      await expect(ws.timeout(2000).emitWithAck(ev, 1)).rejects.toThrow(invalid(/reserved event name/));
    }
    expect(() => ws.emit(undefined as unknown as string, 1)).toThrow(invalid(/event name must be a string/));
    await expect(ws.emitWithAck(42 as unknown as string)).rejects.toThrow(invalid(/event name must be a string/));
    expect(() => ws.compress("yes" as unknown as boolean)).toThrow(invalid(/^compress\(flag\)/));
    expect(() => ws.binary(1 as unknown as boolean)).toThrow(invalid(/^binary\(flag\)/));
    expect(() => ws.disconnectSockets("yes" as unknown as boolean)).toThrow(invalid(/^disconnectSockets\(close\)/));
    expect(() => ws.emit("cb", 1, () => {})).toThrow(invalid(/callbacks are not supported/));
    // Anything sent would be ahead of the marker on the same link: the front end saw none of it.
    await flushed();
    expect(reported.slice(reportedBefore)).toEqual([]);
    expect(client.events.filter((e) => e.ev !== "marker")).toEqual([]);
    expect(client.socket.connected).toBe(true);
  });
});

describe("a closed channel", () => {
  it("rejects fetchSockets and emitWithAck with ERR_CLOSED, as emit throws it (not a front end)", async () => {
    const w = withWs(new MessageChannel({ id: "rpc-closed" }));
    await w.close();
    let thrown: unknown;
    try {
      w.ws.emit("x");
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ClosedError);
    await expect(w.ws.fetchSockets()).rejects.toThrow(ClosedError);
    await expect(w.ws.emitWithAck("x")).rejects.toThrow(ClosedError);
    await expect(w.ws.timeout(100).to("r").emitWithAck("x")).rejects.toMatchObject({ code: "ERR_CLOSED" });
    // With a via too: closed comes first, not "unknown front end".
    expect(() => w.ws.via("web-args").emit("x")).toThrow(ClosedError);
    await expect(w.ws.via("web-args").fetchSockets()).rejects.toThrow(ClosedError);
  });

  it("a closed front end lists no front end, itself included, and refuses requests", async () => {
    const fe = await startFrontEnd("web-closing");
    expect(fe.channel.ws.servers()).toEqual(["web-closing"]);
    await fe.close();
    expect(fe.channel.ws.servers()).toEqual([]);
    await expect(fe.channel.ws.fetchSockets()).rejects.toThrow(ClosedError);
    await expect(fe.channel.ws.emitWithAck("x")).rejects.toThrow(ClosedError);
    expect(() => fe.channel.ws.emit("x")).toThrow(ClosedError);
  });
});

describe("serve(io, options)", () => {
  it("refuses unknown options and a coalesceWrites that is not a boolean, and serves nothing", async () => {
    const { Server } = await import("socket.io");
    const io = new Server();
    const fe = withWs(new MessageChannel({ id: "fe-options" }));
    try {
      expect(() => fe.ws.serve(io, { coalesce: false } as never)).toThrow(InvalidOptionError);
      expect(() => fe.ws.serve(io, { coalesceWrites: "no" } as never)).toThrow(/coalesceWrites must be a boolean/);
      expect(fe.ws.servers()).toEqual([]);
      const off = fe.ws.serve(io, { coalesceWrites: false });
      expect(fe.ws.servers()).toEqual(["fe-options"]);
      off();
    } finally {
      // io was never attached to an HTTP server: nothing of it to close.
      await fe.close();
    }
  });
});
