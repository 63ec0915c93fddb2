import { once } from "node:events";
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { MessageChannel } from "@sfn/channel-core";
import { until, withTimeout } from "@sfn/test-utils";
import { withSse, type SseClient, type SseConnectOptions, type WithSse } from "../src/index.js";

// connect(req, res, options) over a real HTTP server: options it cannot honour throw at the call,
// before anything is written to the response, which the application then answers itself.

let http: Server;
let web: WithSse<MessageChannel>;
let port: number;
/** The options the next request's connect gets. */
let options: unknown;
const clients: SseClient[] = [];
const refused: { code: string; name: string; message: string; headersSent: boolean }[] = [];

beforeEach(async () => {
  web = withSse(new MessageChannel({ id: "web-1" }), { keepAlive: 0 });
  http = createServer((req, res) => {
    try {
      const client = web.sse.connect(req, res, options as SseConnectOptions);
      if (client) clients.push(client);
    } catch (error) {
      const e = error as { code: string; name: string; message: string };
      refused.push({ code: e.code, name: e.name, message: e.message, headersSent: res.headersSent });
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  port = (http.address() as AddressInfo).port;
});

afterEach(async () => {
  options = undefined;
  clients.length = 0;
  refused.length = 0;
  await web.close();
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** What arrived so far. */
  text(): string;
  /** Resolves when the whole answer has arrived. */
  ended: Promise<unknown>;
  end(): void;
}

/** GET /events; resolves once the response has started. */
function get(to = port): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let text = "";
    const req = request({ host: "127.0.0.1", port: to, path: "/events", headers: { Accept: "text/event-stream" } }, (res) => {
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("error", () => {});
      const ended = once(res, "end");
      ended.catch(() => {});
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text: () => text, ended, end: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("sse.connect(req, res, options)", () => {
  it("refuses a misspelt rooms (`room`) with InvalidOptionError at the call, before anything is written or served; the application answers", async () => {
    options = { room: ["dashboards"] };
    const answer = await get();
    // Before the fix: 200, and the stream silently joined no room.
    expect(answer.status).toBe(500);
    expect(refused).toEqual([
      {
        code: "ERR_INVALID_OPTION",
        name: "InvalidOptionError",
        message: 'unknown option "room" in connect\'s options (known: id, rooms, headers)',
        headersSent: false,
      },
    ]);
    expect(clients).toEqual([]);
    expect(web.sse.clients()).toEqual([]);
    expect(web.sse.servers()).toEqual([]); // the bad call did not make the service a front end
    answer.end();
  });

  it("refuses wrong types of id, rooms and headers with InvalidOptionError, and unsafe id or room names with ERR_SSE_INVALID_FIELD", async () => {
    const bad: [unknown, string, RegExp][] = [
      [null, "ERR_INVALID_OPTION", /^connect's options must be an object/],
      ["alice", "ERR_INVALID_OPTION", /^connect's options must be an object/],
      [{ id: 42 }, "ERR_INVALID_OPTION", /^connect's id must be a string \(a client id\); got 42/],
      [{ rooms: 7 }, "ERR_INVALID_OPTION", /^connect's rooms must be a room name \(a string\) or an array of them; got 7/],
      [{ rooms: ["a", null] }, "ERR_INVALID_OPTION", /^connect's rooms .* got an array holding a non-string/],
      [{ rooms: { dashboards: true } }, "ERR_INVALID_OPTION", /^connect's rooms .* got object/],
      [{ headers: "X-A: 1" }, "ERR_INVALID_OPTION", /^connect's headers must be an object/],
      [{ headers: ["X-A", "1"] }, "ERR_INVALID_OPTION", /^connect's headers must be an object .* got an array/],
      [{ headers: { "X-A": 1 } }, "ERR_INVALID_OPTION", /^connect's headers .*"X-A" is 1/],
      [{ id: "a\nb" }, "ERR_SSE_INVALID_FIELD", /client id/],
      [{ id: "" }, "ERR_SSE_INVALID_FIELD", /client id/],
      [{ rooms: "r\0" }, "ERR_SSE_INVALID_FIELD", /room name/],
      [{ rooms: ["ok", "a\r\nevent: admin"] }, "ERR_SSE_INVALID_FIELD", /room name/],
    ];
    for (const [given, code, message] of bad) {
      options = given;
      const answer = await get();
      expect({ given, status: answer.status }).toEqual({ given, status: 500 });
      expect(refused.shift()).toEqual({ code, name: expect.any(String), message: expect.stringMatching(message), headersSent: false });
      answer.end();
    }
    expect(clients).toEqual([]);
    expect(web.sse.servers()).toEqual([]);
  });

  it("accepts the documented options: rooms as one name (one room, not its letters) or an array, id, headers", async () => {
    options = { id: "alice", rooms: "dashboards", headers: { "X-Test": "yes" } };
    const a = await get();
    options = { rooms: ["customer-42", "dashboards"] };
    const b = await get();
    options = { id: undefined, rooms: undefined, headers: undefined };
    const c = await get();
    expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
    expect(refused).toEqual([]);
    expect(a.headers["x-test"]).toBe("yes");
    expect(a.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(clients.map((cl) => [...cl.rooms])).toEqual([["dashboards"], ["customer-42", "dashboards"], []]);
    expect(clients[0]!.id).toBe("alice");
    // Before the fix, `rooms: "dashboards"` joined the rooms "d", "a", "s", ...
    expect(web.sse.in("d").send("letters")).toBe(true);
    web.sse.in("dashboards").send("to dashboards");
    web.sse.send("to all");
    await until(() => [a, b, c].every((s) => s.text().includes("data: to all")), 10_000, "the broadcast");
    const messages = (s: Answer) =>
      [...s.text().matchAll(/^data: (.*)$/gm)].map((m) => m[1]).filter((d) => d?.startsWith("to ") || d === "letters");
    expect([a, b, c].map(messages)).toEqual([["to dashboards", "to all"], ["to dashboards", "to all"], ["to all"]]);
    for (const s of [a, b, c]) s.end();
  });

  it("client.join/leave refuse a non-string or an unsafe room name at the call, as in() does; the client keeps its rooms", async () => {
    options = { rooms: ["a"] };
    const a = await get();
    const client = clients[0]!;
    expect(() => client.join(5 as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    expect(() => client.join("x\ny")).toThrow(expect.objectContaining({ code: "ERR_SSE_INVALID_FIELD" }));
    expect(() => client.leave(null as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
    expect(() => client.leave("a\r")).toThrow(expect.objectContaining({ code: "ERR_SSE_INVALID_FIELD" }));
    client.join("b");
    expect([...client.rooms]).toEqual(["a", "b"]);
    a.end();
  });

  it("in Express, a refused connect is a synchronous throw its error handler answers (500): the request is not left hanging", async () => {
    const app = express();
    app.get("/events", (req, res) => void web.sse.connect(req, res, { room: ["x"] } as unknown as SseConnectOptions));
    // Express's default handler logs the error; a handler of its own keeps the test output clean.
    app.use((error: { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ code: error.code });
    });
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const answer = await get((server.address() as AddressInfo).port);
      expect(answer.status).toBe(500);
      await withTimeout(answer.ended, 5000, "the end of the answer");
      expect(JSON.parse(answer.text())).toEqual({ code: "ERR_INVALID_OPTION" });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
