import { connect as tcpConnect } from "node:net";
import { once } from "node:events";
import { Publisher, browser, rawStream, startFrontEnd, until, type Browser, type FrontEnd } from "./harness.js";

let web1: FrontEnd;
let web2: FrontEnd;
let pub: Publisher;
const browsers: Browser[] = [];

beforeAll(async () => {
  web1 = await startFrontEnd("web-1");
  web2 = await startFrontEnd("web-2", { historySize: 3 });
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

  it("to(room) reaches the room on every front end; via narrows it", async () => {
    const [a, b, c] = [await open(web1, "?room=customer-42"), await open(web1), await open(web2, "?room=customer-42")];
    await pub.run(["to", "customer-42"], ["emit", "news", "invoice"]);
    await pub.run(["via", "web-2"], ["to", "customer-42"], ["emit", "news", "web-2 only"]);
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
    await until(() => pub.messages("error").slice(before).some((e) => e.code === "ERR_SSE_UNKNOWN_SERVER"));
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

describe("Last-Event-ID", () => {
  it("a reconnecting browser gets exactly what it missed, and keeps its client id", async () => {
    const first = await rawStream(web1.port);
    await until(() => first.text().includes("event: sfn-client"));
    const lastId = /id: (\S+)\nevent: sfn-client/.exec(first.text())![1]!;
    const clientId = lastId.split(".").slice(2).join(".");
    first.end();
    await until(() => !web1.channel.sse.clients().some((c) => c.id === clientId));
    const witness = await open(web1);
    await pub.run(["via", "web-1"], ["send", "missed 1"]);
    await pub.run(["via", "web-1"], ["to", witness.id], ["send", "not for you"]);
    await pub.run(["via", "web-1"], ["send", "missed 2"]);
    await until(() => witness.got("message").length === 3);

    const again = await rawStream(web1.port, { "Last-Event-ID": lastId });
    await until(() => again.text().includes("event: sfn-client"));
    const data = [...again.text().matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
    expect(data).toEqual(["missed 1", "missed 2", JSON.stringify({ id: clientId, server: "web-1" })]);
    again.end();
  });

  it("sends an explicit gap event when history cannot fill the gap, or the id is from another front end", async () => {
    const first = await rawStream(web2.port);
    await until(() => first.text().includes("event: sfn-client"));
    const lastId = /id: (\S+)\nevent: sfn-client/.exec(first.text())![1]!;
    first.end();
    // web-2 keeps 3 events; 5 go by.
    for (let i = 0; i < 5; i++) await pub.run(["via", "web-2"], ["send", `e${i}`]);
    const again = await rawStream(web2.port, { "Last-Event-ID": lastId });
    await until(() => again.text().includes("event: sfn-client"));
    expect(again.text()).toContain(`event: sfn-gap\ndata: ${JSON.stringify({ lastEventId: lastId, reason: "history-exceeded" })}`);
    again.end();

    const foreign = await rawStream(web1.port, { "Last-Event-ID": lastId });
    await until(() => foreign.text().includes("event: sfn-client"));
    expect(foreign.text()).toContain('"reason":"other-server-or-restart"');
    foreign.end();
  });
});

describe("headers, framing and backpressure", () => {
  it("answers with the SSE headers, an initial retry and a client-id event", async () => {
    const s = await rawStream(web1.port);
    await until(() => s.text().includes("event: sfn-client"));
    expect(s.status).toBe(200);
    expect(s.text()).toMatch(/^retry: 100\n\nid: [^\n]+\nevent: sfn-client\ndata: \{"id":"[A-Za-z0-9_-]{21}","server":"web-1"\}\n\n/);
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
