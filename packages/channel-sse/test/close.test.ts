import { once } from "node:events";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MessageChannel } from "@sfn/channel-core";
import { withTimeout } from "@sfn/test-utils";
import { withSse, type SseClient, type WithSse } from "../src/index.js";

let http: Server;
let web: WithSse<MessageChannel>;
let port: number;
const clients: SseClient[] = [];
const refused: string[] = [];

beforeEach(async () => {
  web = withSse(new MessageChannel({ id: "web-1" }), { keepAlive: 0 });
  web.sse.serve();
  http = createServer((req, res) => {
    try {
      const client = web.sse.connect(req, res);
      if (client) clients.push(client);
    } catch (error) {
      refused.push((error as { code?: string }).code ?? String(error));
      res.writeHead(503).end();
    }
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  port = (http.address() as AddressInfo).port;
});

afterEach(async () => {
  clients.length = 0;
  refused.length = 0;
  await web.close();
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

/** Opens an event stream and resolves once its response has started. */
function stream(): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/events", headers: { Accept: "text/event-stream" } }, (res) => {
      res.resume();
      resolve(res);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("closing the channel stops its SSE front end", () => {
  it("ends every open stream with the reason `shutdown`, so browsers reconnect instead of waiting on it", async () => {
    const res = await stream();
    expect(clients).toHaveLength(1);
    const ended = once(res, "end");
    await web.close();
    // Before the fix the stream stayed open (keep-alives and all) after close.
    await expect(withTimeout(clients[0]!.closed, 5000, "client.closed")).resolves.toBe("shutdown");
    await withTimeout(ended, 5000, "end of the response");
  });

  it("refuses a stream opened after close with ERR_CLOSED, like every other call on a closed channel", async () => {
    await web.close();
    const res = await stream();
    expect(res.statusCode).toBe(503);
    expect(refused).toEqual(["ERR_CLOSED"]);
    expect(() => web.sse.serve()).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });
});
