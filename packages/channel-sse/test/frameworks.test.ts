import { once } from "node:events";
import { createServer as createHttp2Server, connect as http2Connect, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import express from "express";
import Koa from "koa";
import Fastify from "fastify";
import { EventSource } from "eventsource";
import { MessageChannel } from "@sfn/channel-core";
import { until } from "@sfn/test-utils";
import { withSse, type WithSse } from "../src/index.js";

let channel: WithSse<MessageChannel>;
beforeEach(() => {
  channel = withSse(new MessageChannel({ id: "web" }), { keepAlive: 0 });
  channel.sse.serve();
});
afterEach(() => channel.close({ drainTimeout: 0 }).then(() => channel.sse.unserve()));

/** Opens an EventSource, waits for its client id, pushes one message, expects it. */
async function roundTrip(url: string): Promise<void> {
  const es = new EventSource(url);
  const got: string[] = [];
  es.addEventListener("sfn-client", () => got.push("client"));
  es.onmessage = (e) => got.push(String(e.data));
  try {
    await until(() => got.includes("client"), 10_000, "client event");
    channel.sse.send("pushed");
    await until(() => got.includes("pushed"), 10_000, "pushed message");
  } finally {
    es.close();
  }
}

describe("works with the usual Node HTTP stacks", () => {
  it("Express", async () => {
    const app = express();
    app.get("/events", (req, res) => void channel.sse.connect(req, res));
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      await roundTrip(`http://127.0.0.1:${(server.address() as AddressInfo).port}/events`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("Koa (ctx.req / ctx.res, with ctx.respond = false)", async () => {
    const app = new Koa();
    app.use((ctx) => {
      ctx.respond = false;
      channel.sse.connect(ctx.req, ctx.res);
    });
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      await roundTrip(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("Fastify (request.raw / reply.raw, after reply.hijack())", async () => {
    const app = Fastify();
    app.get("/events", (request, reply) => {
      reply.hijack();
      channel.sse.connect(request.raw, reply.raw);
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      await roundTrip(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/events`);
    } finally {
      app.server.closeAllConnections();
      await app.close();
    }
  });

  it("node:http2 (no connection-specific headers)", async () => {
    const server: Http2Server = createHttp2Server((req, res) => void channel.sse.connect(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const session = http2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const stream = session.request({ ":path": "/events" });
      const [headers] = (await once(stream, "response")) as [Record<string, string | number>];
      expect(headers[":status"]).toBe(200);
      expect(headers["content-type"]).toBe("text/event-stream; charset=utf-8");
      expect(headers.connection).toBeUndefined();
      let text = "";
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (text += c));
      await until(() => text.includes("event: sfn-client"));
      channel.sse.send("over h2");
      await until(() => text.includes("data: over h2"));
      stream.close();
    } finally {
      session.close();
      await new Promise((r) => server.close(r));
    }
  });
});
