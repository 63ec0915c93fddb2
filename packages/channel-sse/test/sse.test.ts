import { connect as tcpConnect } from "node:net";
import { once } from "node:events";
import { Publisher, browser, rawStream, startFrontEnd, until, type Browser, type FrontEnd, type RawStream } from "./harness.js";

let web1: FrontEnd;
let web2: FrontEnd;
let pub: Publisher;
const browsers: Browser[] = [];

// Two front ends of one application: they share the key that signs client ids.
const idKey = "test-id-key-0123456789abcdef";

beforeAll(async () => {
  web1 = await startFrontEnd("web-1", { idKey });
  web2 = await startFrontEnd("web-2", { historySize: 3, idKey });
  pub = await Publisher.start([web1.url, web2.url]);
});

afterEach(() => {
  for (const b of browsers.splice(0)) b.es.close();
});

afterAll(async () => {
  await pub.stop();
  await web1.close();
  await web2.close();
});

async function open(fe: FrontEnd, query = ""): Promise<Browser> {
  const b = await browser(fe, query);
  browsers.push(b);
  return b;
}

/** A marker to every client along the same ordered path: once all have it, everything earlier arrived. */
async function flushed(who: Browser[]): Promise<void> {
  const tag = Math.random().toString(36).slice(2);
  await pub.run(["emit", "marker", tag]);
  await until(() => who.every((b) => b.got("marker").includes(tag)), 10_000, "marker");
}

describe("message.sse from a service with no browser connections", () => {
  it("send() reaches every client of every front end exactly once (the seed's example)", async () => {
    const [a, b, c] = [await open(web1), await open(web1), await open(web2)];
    expect((await pub.run(["send", "Hello, World!"])).value).toBe(true);
    await flushed([a, b, c]);
    for (const x of [a, b, c]) expect(x.got("message")).toEqual(["Hello, World!"]);
  });

  it("emit() sends a named event; non-string data arrives as JSON", async () => {
    const a = await open(web2);
    await pub.run(["emit", "news", { id: 1, tags: ["a"] }]);
    await flushed([a]);
    expect(a.got("news")).toEqual(['{"id":1,"tags":["a"]}']);
  });

  it("via(x).to(clientId) reaches that one browser only (the seed's example)", async () => {
    const [a, b, c] = [await open(web1), await open(web1), await open(web2)];
    await pub.run(["via", "web-1"], ["to", a.id], ["emit", "greeting", "Hello, World!"]);
    await flushed([a, b, c]);
    expect(a.got("greeting")).toEqual(["Hello, World!"]);
    expect(b.got("greeting")).toEqual([]);
    expect(c.got("greeting")).toEqual([]);
  });

  it("in(room) reaches the room on every front end; via narrows it", async () => {
    const [a, b, c] = [await open(web1, "?room=customer-42"), await open(web1), await open(web2, "?room=customer-42")];
    await pub.run(["in", "customer-42"], ["emit", "news", "invoice"]);
    await pub.run(["via", "web-2"], ["in", "customer-42"], ["emit", "news", "web-2 only"]);
    await flushed([a, b, c]);
    expect(a.got("news")).toEqual(["invoice"]);
    expect(b.got("news")).toEqual([]);
    expect(c.got("news")).toEqual(["invoice", "web-2 only"]);
  });

  it("a partial chain is reusable: every step returns a new operator", async () => {
    const [a, b] = [await open(web1), await open(web2)];
    await pub.run(["via", "web-1"], ["send", "one"]);
    await pub.run(["send", "two"]);
    await flushed([a, b]);
    expect(a.got("message")).toEqual(["one", "two"]);
    expect(b.got("message")).toEqual(["two"]);
  });

  it("a via naming an unknown front end is reported", async () => {
    const before = pub.messages("error").length;
    expect((await pub.run(["via", "web-9"], ["send", "lost"])).value).toBe(false);
    await until(() =>
      pub
        .messages("error")
        .slice(before)
        .some((e) => e.code === "ERR_SSE_UNKNOWN_SERVER"),
    );
  });

  it("multi-line data arrives as sent (line breaks as LF) and cannot inject events", async () => {
    const a = await open(web1);
    const evil = "line 1\r\nline 2\rline 3\n\nevent: admin\ndata: pwned";
    await pub.run(["send", evil]);
    await flushed([a]);
    expect(a.got("message")).toEqual([evil.replace(/\r\n|\r/g, "\n")]);
    expect(a.events.filter((e) => e.type === "admin")).toEqual([]);
  });

  it("refuses event names with CR/LF/NUL at the call site with a typed error", async () => {
    const { error } = await pub.run(["emit", "x\nevent: admin", "pwned"]);
    expect(error).toMatchObject({ code: "ERR_SSE_INVALID_FIELD" });
  });

  it("refuses client ids and room names with CR/LF/NUL in to()/in() at the call, and wrong types with InvalidOptionError", async () => {
    const a = await open(web1);
    for (const chain of [
      [
        ["to", "a\nb"],
        ["send", "x"],
      ],
      [
        ["to", ["ok", "a\rb"]],
        ["send", "x"],
      ],
      [["to", ""], ["close"]],
      [
        ["to", "x".repeat(257)],
        ["emit", "x", "y"],
      ],
      [
        ["in", "room\0"],
        ["send", "x"],
      ],
      [
        ["via", "web-1"],
        ["in", "r\n"],
        ["send", "x"],
      ],
    ] as [string, ...unknown[]][][]) {
      expect((await pub.run(...chain)).error).toMatchObject({ code: "ERR_SSE_INVALID_FIELD" });
    }
    for (const chain of [
      [
        ["to", 5],
        ["send", "x"],
      ],
      [
        ["in", [null]],
        ["send", "x"],
      ],
      [
        ["via", { id: "web-1" }],
        ["send", "x"],
      ],
      [["emit", 7, "x"]],
    ] as [string, ...unknown[]][][]) {
      expect((await pub.run(...chain)).error).toMatchObject({ code: "ERR_INVALID_OPTION", name: "InvalidOptionError" });
    }
    expect((await pub.run(["to", a.id], ["in", "room"], ["send", "fine"])).value).toBe(true);
    await flushed([a]);
    expect(a.got("message")).toEqual(["fine"]);
  });
});

describe("close and the refused reconnect", () => {
  it("close() ends the stream, and the browser's reconnect is answered 204 so it stays closed", async () => {
    const a = await open(web1);
    const other = await open(web1);
    const before = web1.statuses.filter((s) => s === 204).length;
    await pub.run(["via", "web-1"], ["to", a.id], ["close"]);
    // eventsource reconnects after `retry` (100 ms here); the 204 stops it for good.
    await until(() => a.es.readyState === 2, 10_000, "EventSource closed");
    expect(web1.statuses.filter((s) => s === 204).length).toBe(before + 1);
    await flushed([other]);
    expect(other.es.readyState).toBe(1);
  });

  it("a close without via reaches every front end, so the reconnect is refused wherever it lands", async () => {
    const a = await open(web1);
    const lastId = a.events.at(-1)!.lastEventId;
    await pub.run(["to", a.id], ["close"]);
    await until(() => a.es.readyState === 2);
    // The browser's next attempt lands on web-2 (a load balancer's choice), with its Last-Event-ID.
    const retry = await rawStream(web2.port, { "Last-Event-ID": lastId });
    expect(retry.status).toBe(204);
  });
});

/** The client id and event id a raw stream was given (from its `sfn-client` event). */
function identity(s: RawStream): { id: string; lastId: string } {
  const m = /id: (\S+)\nevent: sfn-client\ndata: (\{[^\n]*\})/.exec(s.text())!;
  return { lastId: m[1]!, id: (JSON.parse(m[2]!) as { id: string }).id };
}

async function opened(port: number, headers: Record<string, string> = {}, path?: string): Promise<RawStream> {
  const s = await rawStream(port, headers, path);
  await until(() => s.text().includes("event: sfn-client"), 10_000, "sfn-client event");
  return s;
}

const dataLines = (s: RawStream): string[] => [...s.text().matchAll(/^data: (.*)$/gm)].map((m) => m[1]!);

describe("Last-Event-ID", () => {
  it("a reconnecting browser gets exactly what it missed, and keeps its client id", async () => {
    const first = await opened(web1.port);
    const { id: clientId, lastId } = identity(first);
    first.end();
    await until(() => !web1.channel.sse.clients().some((c) => c.id === clientId));
    const witness = await open(web1);
    await pub.run(["via", "web-1"], ["send", "missed 1"]);
    await pub.run(["via", "web-1"], ["to", witness.id], ["send", "not for you"]);
    await pub.run(["via", "web-1"], ["send", "missed 2"]);
    await until(() => witness.got("message").length === 3);

    const again = await opened(web1.port, { "Last-Event-ID": lastId });
    await until(() => again.text().includes("data: missed 2"));
    expect(identity(again).id).toBe(clientId);
    expect(dataLines(again)).toEqual([JSON.stringify({ id: clientId, server: "web-1" }), "missed 1", "missed 2"]);
    again.end();
  });

  it("sends an explicit gap event when history cannot fill the gap, or the id is from another front end", async () => {
    const first = await opened(web2.port);
    const { id: clientId, lastId } = identity(first);
    first.end();
    // web-2 keeps 3 events; 5 go by.
    for (let i = 0; i < 5; i++) await pub.run(["via", "web-2"], ["send", `e${i}`]);
    const again = await opened(web2.port, { "Last-Event-ID": lastId });
    await until(() => again.text().includes("event: sfn-gap"));
    expect(again.text()).toContain(`event: sfn-gap\ndata: ${JSON.stringify({ lastEventId: lastId, reason: "history-exceeded" })}`);
    again.end();

    // web-1 shares web-2's idKey: it restores the client id, but its numbers are its own.
    const foreign = await opened(web1.port, { "Last-Event-ID": lastId });
    await until(() => foreign.text().includes("event: sfn-gap"));
    expect(foreign.text()).toContain('"reason":"other-server-or-restart"');
    expect(identity(foreign).id).toBe(clientId);
    foreign.end();
  });

  it("event ids carry the client id signed with the front end's key", async () => {
    const s = await opened(web1.port);
    const { id, lastId } = identity(s);
    s.end();
    const [epoch, n, client64, tag] = lastId.split(".");
    expect(epoch).toMatch(/^[A-Za-z0-9]+$/);
    expect(n).toMatch(/^\d+$/);
    expect(Buffer.from(client64!, "base64url").toString()).toBe(id);
    expect(tag).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});

describe("attacks on Last-Event-ID (forged, foreign, overlong)", () => {
  /** A victim in a room, and a stream opened with a forged header; checks the forger gets nothing of theirs. */
  async function expectNothingLeaks(forged: string, room: string): Promise<RawStream> {
    const victim = await open(web1, `?room=${room}`);
    const attacker = await opened(web1.port, { "Last-Event-ID": forged });
    const { id } = identity(attacker);
    expect(id).not.toBe(victim.id);
    expect(id).not.toBe(room);
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/); // a fresh random id
    await until(() => attacker.text().includes("event: sfn-gap"));
    expect(attacker.text()).toContain('"reason":"unknown-id"');
    await pub.run(["in", room], ["emit", "room", "room secret"]);
    await pub.run(["to", room], ["emit", "room", "room secret via to"]);
    await pub.run(["to", victim.id], ["emit", "direct", "victim's secret"]);
    await pub.run(["emit", "marker", "done"]);
    await until(() => attacker.text().includes("data: done") && victim.got("marker").includes("done"));
    expect(victim.got("room")).toEqual(["room secret"]);
    expect(victim.got("direct")).toEqual(["victim's secret"]);
    expect(attacker.text()).not.toContain("secret");
    return attacker;
  }

  it("x.0.<room name> (the old id format) gets neither the room's events nor a client's", async () => {
    (await expectNothingLeaks("x.0.payroll", "payroll")).end();
  });

  it("a well-formed id naming another client (or a room) with a made-up tag is not restored", async () => {
    const first = await opened(web1.port);
    const epoch = identity(first).lastId.split(".")[0]!;
    first.end();
    const forge = (client: string) => `${epoch}.0.${Buffer.from(client).toString("base64url")}.AAAAAAAAAAAAAAAA`;
    (await expectNothingLeaks(forge("board"), "board")).end();
    const victim = await open(web1);
    const attacker = await opened(web1.port, { "Last-Event-ID": forge(victim.id) });
    expect(identity(attacker).id).not.toBe(victim.id);
    attacker.end();
  });

  it("an id signed by a front end with another key is not restored", async () => {
    const other = await startFrontEnd("web-other");
    try {
      const s = await opened(other.port);
      const { id, lastId } = identity(s);
      s.end();
      const here = await opened(web1.port, { "Last-Event-ID": lastId });
      expect(identity(here).id).not.toBe(id);
      await until(() => here.text().includes('"reason":"unknown-id"'));
      here.end();
    } finally {
      await other.close();
    }
  });

  it("an overlong Last-Event-ID is ignored, even one whose parts look right", async () => {
    const long = `abc.0.${Buffer.from("v".repeat(400)).toString("base64url")}.AAAAAAAAAAAAAAAA`;
    (await expectNothingLeaks(long, "vvvv")).end();
    const s = await expectNothingLeaks("z".repeat(8000), "zzzz");
    const gap = JSON.parse(/event: sfn-gap\ndata: (.*)\n/.exec(s.text())![1]!) as { lastEventId: string };
    expect(gap.lastEventId).toBe("z".repeat(512)); // not echoed in full
    s.end();
  });

  it("an application-supplied id still works, and is restored from its own signed event ids", async () => {
    const s = await opened(web1.port, {}, "/events?id=user-7");
    const { id, lastId } = identity(s);
    expect(id).toBe("user-7");
    s.end();
    await until(() => !web1.channel.sse.clients().some((c) => c.id === "user-7"));
    const again = await opened(web1.port, { "Last-Event-ID": lastId });
    expect(identity(again).id).toBe("user-7");
    again.end();
  });
});

describe("events addressed to a client while it reconnects (issue 10 item 5)", () => {
  it("a real EventSource that drops and reconnects gets its own events and its rooms' events, and nobody else's", async () => {
    const a = await open(web1, "?room=team-a");
    const witness = await open(web1);
    const other = await open(web1, "?room=team-b");
    web1.hold();
    try {
      web1.drop(a.id);
      // The browser reconnects by itself with its Last-Event-ID, and waits at the door.
      await until(() => web1.held().length === 1, 10_000, "the reconnect");
      expect(web1.held()[0]).toBe(a.events.at(-1)!.lastEventId);
      await pub.run(["to", a.id], ["emit", "direct", "for a, while away"]);
      await pub.run(["in", "team-a"], ["emit", "room", "team-a, while away"]);
      await pub.run(["send", "everyone, while away"]);
      await pub.run(["to", other.id], ["emit", "direct", "for other"]);
      await pub.run(["in", "team-b"], ["emit", "room", "team-b"]);
      await flushed([witness]);
    } finally {
      web1.release();
    }
    await until(() => a.got("message").includes("everyone, while away"), 10_000, "replay");
    await flushed([a]);
    expect(a.got("direct")).toEqual(["for a, while away"]);
    expect(a.got("room")).toEqual(["team-a, while away"]);
    expect(a.got("sfn-client").map((d) => JSON.parse(d).id)).toEqual([a.id, a.id]);
    expect(a.got("sfn-gap")).toEqual([]);
  });

  it("room events sent before the client joined the room are not replayed to it", async () => {
    const a = await open(web1);
    const witness = await open(web1);
    await pub.run(["in", "late-room"], ["emit", "room", "before a joined"]);
    await flushed([witness]);
    web1.channel.sse
      .clients()
      .find((c) => c.id === a.id)!
      .join("late-room");
    web1.hold();
    try {
      web1.drop(a.id);
      await until(() => web1.held().length === 1, 10_000, "the reconnect");
      await pub.run(["in", "late-room"], ["emit", "room", "after a joined"]);
      await flushed([witness]);
    } finally {
      web1.release();
    }
    await until(() => a.got("room").length > 0, 10_000, "replay");
    await flushed([a]);
    expect(a.got("room")).toEqual(["after a joined"]);
  });
});

describe("a long gap recovers (issue 10 item 6)", () => {
  const pad = "p".repeat(8 * 1024);

  async function missWhileAway(fe: FrontEnd, count: number): Promise<Browser> {
    const a = await browser(fe);
    browsers.push(a);
    fe.hold();
    try {
      fe.drop(a.id);
      await until(() => fe.held().length === 1, 10_000, "the reconnect");
      for (let i = 0; i < count; i++) fe.channel.sse.send(`${i} ${pad}`);
    } finally {
      fe.release();
    }
    return a;
  }

  it("200 events of 8 KiB missed: all are replayed as the socket drains, and the client is not cut", async () => {
    const fe = await startFrontEnd("web-long"); // default limits: 1 MiB client buffer
    try {
      const a = await missWhileAway(fe, 200);
      await until(() => a.got("message").length >= 200, 20_000, "200 replayed events");
      fe.channel.sse.emit("marker", "live");
      await until(() => a.got("marker").includes("live"));
      expect(a.got("message").map((d) => Number(d.split(" ")[0]))).toEqual([...Array(200).keys()]);
      expect(a.got("sfn-gap")).toEqual([]);
      expect(fe.errors).not.toContain("ERR_SSE_SLOW_CLIENT");
      expect(fe.statuses.filter((s) => s === 200)).toHaveLength(2); // the first stream and one reconnect
    } finally {
      await fe.close();
    }
  });

  it("with a history too small for the gap, an sfn-gap arrives instead of a cut", async () => {
    const fe = await startFrontEnd("web-short", { historyBytes: 256 * 1024 });
    try {
      const a = await missWhileAway(fe, 200);
      await until(() => a.got("sfn-gap").length === 1, 10_000, "sfn-gap");
      expect(JSON.parse(a.got("sfn-gap")[0]!)).toMatchObject({ reason: "history-exceeded" });
      expect(a.got("message")).toEqual([]);
      fe.channel.sse.emit("marker", "live");
      await until(() => a.got("marker").includes("live"));
      expect(fe.errors).not.toContain("ERR_SSE_SLOW_CLIENT");
      expect(fe.statuses.filter((s) => s === 200)).toHaveLength(2);
    } finally {
      await fe.close();
    }
  });
});

describe("bounded cost: event size, history bytes, bigints", () => {
  it("a string over maxEventBytes is refused at the publisher with a typed error", async () => {
    const { error } = await pub.run(["send", "x".repeat(1024 * 1024 + 1)]);
    expect(error).toMatchObject({ code: "ERR_SSE_TOO_LARGE" });
  });

  it("an event that serializes over the front end's maxEventBytes is dropped and reported there; others go on", async () => {
    const fe = await startFrontEnd("web-small", { maxEventBytes: 4096 });
    const p = await Publisher.start([fe.url]);
    try {
      const a = await browser(fe);
      browsers.push(a);
      expect((await p.run(["send", { pad: "x".repeat(10_000) }])).error).toBeUndefined();
      await p.run(["emit", "marker", "after"]);
      await until(() => a.got("marker").includes("after"));
      expect(a.got("message")).toEqual([]);
      expect(fe.errors).toContain("ERR_SSE_TOO_LARGE");
      expect(() => fe.channel.sse.clients()[0]!.send("y".repeat(5000))).toThrow(expect.objectContaining({ code: "ERR_SSE_TOO_LARGE" }));
    } finally {
      await p.stop();
      await fe.close();
    }
  });

  it("data with no JSON form (undefined, a function, a symbol) is refused with ERR_SSE_SERIALIZE, not sent as an empty data line", async () => {
    const a = await open(web1);
    const client = web1.channel.sse.clients().find((c) => c.id === a.id)!;
    const serialize = expect.objectContaining({ code: "ERR_SSE_SERIALIZE" });
    for (const data of [undefined, () => 1, Symbol("s")]) {
      expect(() => client.send(data)).toThrow(serialize);
      expect(() => client.emit("x", data)).toThrow(serialize);
      expect(() => web1.channel.sse.send(data)).toThrow(serialize);
      expect(() => web1.channel.sse.to(a.id).emit("x", data)).toThrow(serialize);
    }
    expect(client.send("after")).toBe(true);
    await until(() => a.got("message").length > 0);
    expect(a.got("message")).toEqual(["after"]);
    expect(a.got("x")).toEqual([]);
  });

  it("a huge bigint is refused by the serializer at the publisher, without converting it", async () => {
    const { MessageChannel } = await import("@sfn/channel-core");
    const { withSse } = await import("../src/index.js");
    const local = withSse(new MessageChannel({ id: "bigint-pub" }));
    expect(() => local.sse.send(1n << 4_000_000n)).toThrow(expect.objectContaining({ code: "ERR_SSE_SERIALIZE" }));
    await local.close({ drainTimeout: 0 });
  });
});

describe("headers, framing and backpressure", () => {
  it("answers with the SSE headers, an initial retry and a client-id event", async () => {
    const s = await rawStream(web1.port);
    await until(() => s.text().includes("event: sfn-client"));
    expect(s.status).toBe(200);
    expect(s.text()).toMatch(/^retry: 100\n\nid: [^\n]+\nevent: sfn-client\ndata: \{"id":"[A-Za-z0-9_-]{22}","server":"web-1"\}\n\n/);
    s.end();
    const res = await fetch(`http://127.0.0.1:${web1.port}/events`);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache, no-transform");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    await res.body?.cancel();
  });

  it("client.send() says whether the event went out at once, and false once the stream has ended", async () => {
    const s = await rawStream(web1.port);
    await until(() => s.text().includes("event: sfn-client"));
    const id = /"id":"([^"]+)"/.exec(s.text())![1]!;
    const client = web1.channel.sse.clients().find((c) => c.id === id)!;
    expect(client.send("direct")).toBe(true);
    await until(() => s.text().includes("data: direct"));
    client.close();
    expect(await client.closed).toBe("closed");
    expect(client.send("too late")).toBe(false);
    s.end();
  });

  it("sends keep-alive comments at the configured interval", async () => {
    const fe = await startFrontEnd("web-ka", { keepAlive: 50 });
    try {
      const s = await rawStream(fe.port);
      await until(() => (s.text().match(/^: \n\n/gm) ?? []).length >= 2, 5000, "two keep-alive comments");
      s.end();
    } finally {
      await fe.close();
    }
  });

  it("a burst over maxBufferBytes in one event-loop turn does not cut a reader that keeps up", async () => {
    // Node's http response holds everything written in one turn until the turn ends: those bytes
    // wait on the front end, not on the reader, and must not count against the reader's bound.
    const fe = await startFrontEnd("web-burst", { maxBufferBytes: 16 * 1024 });
    const b = await browser(fe);
    try {
      const [client] = fe.channel.sse.clients();
      const data = "y".repeat(1024);
      for (let i = 0; i < 48; i++) fe.channel.sse.emit("x", `${i} ${data}`);
      await until(() => b.got("x").length === 48 || !client!.open, 10_000, "the burst");
      expect(client!.open).toBe(true);
      expect(b.got("x").map((d) => Number(d.split(" ")[0]))).toEqual(Array.from({ length: 48 }, (_, i) => i));
      expect(fe.errors).not.toContain("ERR_SSE_SLOW_CLIENT");
    } finally {
      b.es.close();
      await fe.close();
    }
  });

  it("disconnects a client that stays slow, with a reported reason, and keeps serving the others", async () => {
    const fe = await startFrontEnd("web-slow", { maxBufferBytes: 256 * 1024 });
    const errors: string[] = [];
    fe.channel.on("error", (e) => errors.push(e.code));
    try {
      const sock = tcpConnect(fe.port, "127.0.0.1");
      await once(sock, "connect");
      sock.write("GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
      sock.pause(); // never reads
      sock.on("error", () => {});
      await until(() => fe.channel.sse.clients().length === 1);
      const [slow] = fe.channel.sse.clients();
      const good = await browser(fe);
      const chunk = "x".repeat(16 * 1024);
      for (let i = 0; i < 400 && slow!.open; i++) {
        fe.channel.sse.send(chunk);
        await new Promise((r) => setImmediate(r));
      }
      expect(await slow!.closed).toBe("slow");
      await until(() => errors.includes("ERR_SSE_SLOW_CLIENT"));
      fe.channel.sse.emit("marker", "still here");
      await until(() => good.got("marker").includes("still here"));
      good.es.close();
      sock.destroy();
    } finally {
      await fe.close();
    }
  });
});
