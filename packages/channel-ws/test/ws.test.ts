import { Publisher, connect, startFrontEnd, until, type Client, type FrontEnd } from "./harness.js";

let web1: FrontEnd;
let web2: FrontEnd;
let pub: Publisher;
const clients: Client[] = [];

beforeAll(async () => {
  web1 = await startFrontEnd("web-1");
  web2 = await startFrontEnd("web-2");
  pub = await Publisher.start([web1.url, web2.url]);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.socket.disconnect();
});

afterAll(async () => {
  await pub.stop();
  await web1.close();
  await web2.close();
});

async function client(fe: FrontEnd, nsp = "/", options: { silent?: boolean } = {}): Promise<Client> {
  const c = await connect(fe.port, nsp, options);
  clients.push(c);
  return c;
}

async function join(c: Client, room: string, fe: FrontEnd): Promise<void> {
  c.socket.emit("join", room);
  await until(() => fe.io.of("/").sockets.get(c.socket.id!)?.rooms.has(room) === true, 5000, `join ${room}`);
}

/** Sends a marker along the same path and waits until `who` got it: anything earlier has arrived. */
async function flushed(who: Client[], ...prefix: [string, ...unknown[]][]): Promise<void> {
  const tag = Math.random().toString(36).slice(2);
  expect((await pub.run(...prefix, ["emit", "marker", tag])).value).toBe(true);
  await until(() => who.every((c) => c.got("marker").some((a) => a[0] === tag)), 10_000, "marker");
}

describe("message.ws from a service with no browser connections", () => {
  it("emit without via reaches every client of every front end exactly once", async () => {
    const [a, b, c] = [await client(web1), await client(web1), await client(web2)];
    expect((await pub.run(["emit", "greeting", "Hello, World!"])).value).toBe(true);
    await flushed([a, b, c]);
    for (const x of [a, b, c]) expect(x.got("greeting")).toEqual([["Hello, World!"]]);
  });

  it("send() emits the message event", async () => {
    const a = await client(web2);
    await pub.run(["send", "hi", 2]);
    await flushed([a]);
    expect(a.got("message")).toEqual([["hi", 2]]);
  });

  it("to/in reach only the rooms' members, once even when in several rooms", async () => {
    const [a, b, c] = [await client(web1), await client(web1), await client(web2)];
    await join(a, "red", web1);
    await join(a, "blue", web1);
    await join(c, "blue", web2);
    await pub.run(["to", "red"], ["in", "blue"], ["emit", "news", 1]);
    await flushed([a, b, c]);
    expect(a.got("news")).toEqual([[1]]);
    expect(b.got("news")).toEqual([]);
    expect(c.got("news")).toEqual([[1]]);
  });

  it("except leaves out a room", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    await join(b, "muted", web2);
    await pub.run(["except", "muted"], ["emit", "news", 2]);
    await flushed([a, b]);
    expect(a.got("news")).toEqual([[2]]);
    expect(b.got("news")).toEqual([]);
  });

  it("of selects a namespace", async () => {
    const [root, admin] = [await client(web1), await client(web1, "/admin")];
    await pub.run(["of", "/admin"], ["emit", "alert", "x"]);
    await flushed([admin], ["of", "/admin"]);
    expect(admin.got("alert")).toEqual([["x"]]);
    expect(root.got("alert")).toEqual([]);
  });

  it("via picks one front end; a socket id reaches just that client (the seed's example)", async () => {
    const [a, b, c] = [await client(web1), await client(web1), await client(web2)];
    await pub.run(["via", "web-1"], ["emit", "only-web-1", 1]);
    await pub.run(["via", "web-1"], ["to", a.socket.id!], ["emit", "greeting", "Hello, World!"]);
    await flushed([a, b, c]);
    expect(a.got("only-web-1")).toEqual([[1]]);
    expect(b.got("only-web-1")).toEqual([[1]]);
    expect(c.got("only-web-1")).toEqual([]);
    expect(a.got("greeting")).toEqual([["Hello, World!"]]);
    expect(b.got("greeting")).toEqual([]);
  });

  it("a partial chain can be kept and reused: every step returns a new operator", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    // One run builds the base once and reuses it twice; the second use must not inherit "muted".
    await join(b, "muted", web2);
    await pub.run(["via", "web-2"], ["except", "muted"], ["emit", "x", 1]);
    await pub.run(["emit", "x", 2]);
    await flushed([a, b]);
    expect(a.got("x")).toEqual([[2]]);
    expect(b.got("x")).toEqual([[2]]);
  });

  it("a via naming an unknown front end is reported, and rejects promise-returning operations", async () => {
    const errorsBefore = pub.messages("error").length;
    expect((await pub.run(["via", "web-9"], ["emit", "lost", 1])).value).toBe(false);
    await until(() => pub.messages("error").length > errorsBefore);
    expect(pub.messages("error").at(-1)).toMatchObject({ code: "ERR_WS_UNKNOWN_SERVER", unknown: ["web-9"] });
    expect((await pub.run(["via", "web-9"], ["fetchSockets"])).error).toMatchObject({ code: "ERR_WS_UNKNOWN_SERVER", unknown: ["web-9"] });
  });

  it("a via list with one unknown front end sends nothing anywhere: emit, fetchSockets and emitWithAck alike", async () => {
    const a = await client(web1);
    const via = ["via", ["web-1", "no-such-server"]] as [string, ...unknown[]];
    const errorsBefore = pub.messages("error").length;
    expect((await pub.run(via, ["emit", "half", 1])).value).toBe(false);
    expect((await pub.run(via, ["socketsJoin", "half-room"])).value).toBe(false);
    await until(() => pub.messages("error").length >= errorsBefore + 2);
    for (const e of pub.messages("error").slice(errorsBefore))
      expect(e).toMatchObject({ code: "ERR_WS_UNKNOWN_SERVER", unknown: ["no-such-server"] });
    expect((await pub.run(via, ["fetchSockets"])).error).toMatchObject({ code: "ERR_WS_UNKNOWN_SERVER", unknown: ["no-such-server"] });
    expect((await pub.run(via, ["timeout", 2000], ["emitWithAck", "half-ack", 1])).error).toMatchObject({
      code: "ERR_WS_UNKNOWN_SERVER",
      unknown: ["no-such-server"],
    });
    // Anything sent to web-1 would be ahead of this marker on the same link.
    await flushed([a], ["via", "web-1"]);
    expect(a.got("half")).toEqual([]);
    expect(a.got("half-ack")).toEqual([]);
    expect(web1.io.of("/").sockets.get(a.socket.id!)?.rooms.has("half-room")).toBe(false);
  });

  it("binary arguments (Buffer, typed arrays, nested) reach the browser client as binary", async () => {
    const a = await client(web2);
    await pub.run(["binary", true], ["emit", "bin", { $buffer: [1, 2, 3] }, { nested: { $u16: [7, 8] }, text: "t" }]);
    await flushed([a]);
    const [[buf, obj]] = a.got("bin") as [[Buffer, { nested: Buffer; text: string }]];
    expect(Buffer.isBuffer(buf)).toBe(true);
    expect([...buf]).toEqual([1, 2, 3]);
    expect(Buffer.isBuffer(obj.nested)).toBe(true);
    expect(obj.nested.length).toBe(4);
    expect(obj.text).toBe("t");
  });

  it("volatile and compress flags pass through", async () => {
    const a = await client(web1);
    await pub.run(["volatile"], ["compress", false], ["emit", "tick", 1]);
    await flushed([a]);
    expect(a.got("tick")).toEqual([[1]]);
  });

  it("socketsJoin and socketsLeave move matching sockets between rooms", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    await pub.run(["via", "web-1"], ["socketsJoin", ["vip"]]);
    await until(() => web1.io.of("/").sockets.get(a.socket.id!)?.rooms.has("vip") === true);
    await pub.run(["to", "vip"], ["emit", "perk", 1]);
    await flushed([a, b]);
    expect(a.got("perk")).toEqual([[1]]);
    expect(b.got("perk")).toEqual([]);
    await pub.run(["socketsLeave", "vip"]);
    await until(() => web1.io.of("/").sockets.get(a.socket.id!)?.rooms.has("vip") === false);
  });

  it("disconnectSockets disconnects the matching sockets only", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    await join(a, "kick", web1);
    const gone = new Promise<string>((r) => a.socket.once("disconnect", r));
    await pub.run(["to", "kick"], ["disconnectSockets", true]);
    expect(await gone).toBe("io server disconnect");
    expect(b.socket.connected).toBe(true);
  });

  it("fetchSockets describes every matching socket of every front end", async () => {
    const [a, c] = [await client(web1), await client(web2)];
    await join(c, "find-me", web2);
    const { value } = await pub.run(["fetchSockets"]);
    const found = value as { id: string; server: string; rooms: string[]; data: unknown; handshake: { headers: object } }[];
    const mine = found.filter((s) => s.id === a.socket.id || s.id === c.socket.id);
    expect(mine.map((s) => [s.id, s.server]).sort()).toEqual(
      [
        [a.socket.id, "web-1"],
        [c.socket.id, "web-2"],
      ].sort(),
    );
    const cInfo = mine.find((s) => s.id === c.socket.id)!;
    expect(cInfo.rooms.sort()).toEqual([c.socket.id, "find-me"].sort());
    expect(cInfo.data).toEqual({ user: `user-of-${c.socket.id}` });
    expect(cInfo.handshake.headers).toBeDefined();
    const { value: inRoom } = await pub.run(["in", "find-me"], ["fetchSockets"]);
    expect((inRoom as { id: string }[]).map((s) => s.id)).toEqual([c.socket.id]);
  });

  it("timeout(ms).emitWithAck resolves with every client's answer from every front end", async () => {
    const [a, b] = [await client(web1), await client(web2)];
    const { value } = await pub.run(["timeout", 2000], ["emitWithAck", "question", 42]);
    const answers = (value as string[]).filter((v) => v.startsWith(a.socket.id!) || v.startsWith(b.socket.id!)).sort();
    expect(answers).toEqual([`${a.socket.id}:42`, `${b.socket.id}:42`].sort());
  });

  it("emitWithAck rejects on timeout, saying how many answered and which front ends did not", async () => {
    await client(web1);
    await client(web2, "/", { silent: true });
    const { error } = await pub.run(["timeout", 300], ["emitWithAck", "question", 1]);
    expect(error).toMatchObject({ code: "ERR_WS_TIMEOUT", missing: ["web-2"], answered: ["web-1"], received: 1 });
  });
});
