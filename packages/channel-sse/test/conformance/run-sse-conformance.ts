/**
 * `message.sse` behaviour every router must give (see channel-core's run-conformance.ts): two
 * SSE front ends and a publisher with no browser connections, built by the router's `make`.
 * Imports go through package names (other packages run this file too).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MessageChannel } from "@sfn/channel-core";
import { internals } from "@sfn/channel-core/internal";
import { until } from "@sfn/test-utils";
import { EventSource } from "eventsource";
import { withSse, type WithSse } from "../../src/index.js";
import { type MakeChannels, reach } from "../../../channel-core/test/conformance/run-conformance.js";

interface FrontEnd {
  channel: WithSse<MessageChannel>;
  http: Server;
  port: number;
}

interface Browser {
  es: EventSource;
  id: string;
  got(type: string): string[];
}

async function frontEnd(channel: MessageChannel): Promise<FrontEnd> {
  const sse = withSse(channel, { retry: 100, keepAlive: 0, idKey: "conformance-id-key-0123456789" });
  sse.sse.serve();
  const http = createServer((req, res) => {
    const room = new URL(req.url ?? "/", "http://x").searchParams.get("room");
    sse.sse.connect(req, res, { rooms: room ? [room] : [] });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return { channel: sse, http, port: (http.address() as AddressInfo).port };
}

async function browser(fe: FrontEnd, query = ""): Promise<Browser> {
  const es = new EventSource(`http://127.0.0.1:${fe.port}/events${query}`);
  const events: { type: string; data: string }[] = [];
  for (const type of ["message", "news", "greeting", "room", "marker", "sfn-client"]) {
    es.addEventListener(type, (e: MessageEvent) => events.push({ type, data: String(e.data) }));
  }
  await until(() => events.some((e) => e.type === "sfn-client"), 20_000, "sfn-client event");
  const id = (JSON.parse(events.find((e) => e.type === "sfn-client")!.data) as { id: string }).id;
  return { es, id, got: (type) => events.filter((e) => e.type === type).map((e) => e.data) };
}

/** Runs the `message.sse` conformance tests against the channels `make` builds. */
export function runSseConformance(name: string, make: MakeChannels): void {
  describe(`message.sse conformance: ${name}`, () => {
    let close: (() => Promise<void>) | undefined;
    let fe1: FrontEnd;
    let fe2: FrontEnd;
    let pub: WithSse<MessageChannel>;
    const browsers: Browser[] = [];

    beforeEach(async () => {
      const group = await make(["sse-front-1", "sse-front-2", "sse-publisher"]);
      const [c1, c2, c3] = group.channels as [MessageChannel, MessageChannel, MessageChannel];
      for (const c of group.channels) c.on("error", () => {});
      fe1 = await frontEnd(c1);
      fe2 = await frontEnd(c2);
      pub = withSse(c3);
      close = async () => {
        for (const b of browsers.splice(0)) b.es.close();
        await group.close();
        for (const fe of [fe1, fe2]) {
          fe.channel.sse.unserve();
          fe.http.closeAllConnections();
          await new Promise((r) => fe.http.close(r));
        }
      };
      await until(() => ["sse-front-1", "sse-front-2"].every((id) => pub.sse.servers().includes(id)), 20_000, "front ends");
      await reach(pub, fe1.channel);
      await reach(pub, fe2.channel);
      expect(internals(pub).servers("$sfn.sse.op")).not.toContain("sse-publisher");
    });
    afterEach(async () => {
      await close?.();
      close = undefined;
    });

    const open = async (fe: FrontEnd, query = ""): Promise<Browser> => {
      const b = await browser(fe, query);
      browsers.push(b);
      return b;
    };
    const flushed = async (who: Browser[]): Promise<void> => {
      const tag = Math.random().toString(36).slice(2);
      pub.sse.emit("marker", tag);
      await until(() => who.every((b) => b.got("marker").includes(tag)), 20_000, "marker");
    };

    it("send() reaches every client of every front end exactly once", async () => {
      const [a, b, c] = [await open(fe1), await open(fe1), await open(fe2)];
      expect(pub.sse.send("Hello, World!")).toBe(true);
      await flushed([a, b, c]);
      for (const x of [a, b, c]) expect(x.got("message")).toEqual(["Hello, World!"]);
    });

    it("via(front end).to(client id) reaches that one browser only", async () => {
      const [a, b, c] = [await open(fe1), await open(fe1), await open(fe2)];
      pub.sse.via("sse-front-1").to(a.id).emit("greeting", "hi");
      await flushed([a, b, c]);
      expect([a.got("greeting"), b.got("greeting"), c.got("greeting")]).toEqual([["hi"], [], []]);
    });

    it("in(room) reaches the room on every front end; via narrows it to one", async () => {
      const [a, b, c] = [await open(fe1, "?room=r"), await open(fe2, "?room=r"), await open(fe2)];
      pub.sse.in("r").emit("room", "everywhere");
      pub.sse.via("sse-front-2").in("r").emit("room", "only-2");
      await flushed([a, b, c]);
      expect([a.got("room"), b.got("room"), c.got("room")]).toEqual([["everywhere"], ["everywhere", "only-2"], []]);
    });
  });
}
