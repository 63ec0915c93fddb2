import { Buffer } from "node:buffer";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Packr, Unpackr } from "msgpackr";
import { WebSocket, WebSocketServer } from "ws";
import type { System } from "./types.js";

// Most bytes in one WebSocket frame of the 256 KiB variant: the batch bound of SFN's links
// (MAX_BATCH in channel-core's connection.ts).
const MAX_FRAME_BYTES = 256 * 1024;
// Bytes handed to one subscriber's socket and not yet written to the OS before publish() says
// wait: the bound SFN's links use (SOCKET_HIGH_WATER in channel-core's connection.ts).
const HIGH_WATER = 1 << 20;
const MAX_PAYLOAD = 16 << 20;

/**
 * `BENCH_RAW_WS_DECODER=msgpackr` decodes with msgpackr's `unpackMultiple` instead of the hand
 * parse: to show what the hand parse (the one SFN's subscriber does too) saves.
 */
const useUnpackr = process.env.BENCH_RAW_WS_DECODER === "msgpackr";

/**
 * The raw WebSocket ceiling, as the performance issue defines it: what SFN's mesh could at best
 * do on the same stack, without a resume window, acknowledgements, auth, interest or framing
 * of its own; the messages of one event-loop turn in frames of at most 64 messages.
 *
 * The publisher runs a `ws` WebSocketServer (perMessageDeflate off) on 127.0.0.1 and every
 * subscriber connects to it as a `ws` client. Each message is MessagePack `str topic` + `bin
 * payload`, the bytes SFN's encoder writes for a Buffer payload (without its 7-byte frame
 * header); one turn's messages go out in frames, each frame encoded once and the same Buffer
 * sent to every subscriber. Backpressure: each subscriber's bytes handed to `ws.send` and not
 * yet written out are counted through the send callback; publish() is false from
 * {@link HIGH_WATER} on (any subscriber), drain() waits until every subscriber is below half.
 *
 * The subscriber reads each frame by hand (str header, topic bytes compared with the
 * subscribed topic, bin header, the payload a view of the frame), as SFN's subscriber reads
 * its MSG frames; or with msgpackr's `unpackMultiple` (see {@link useUnpackr}).
 *
 * Setup: the subscriber starts first in the bench's workers, so it listens on a small HTTP
 * port (its address); the publisher, once its server listens, asks each subscriber there to
 * dial it, and waits until all are connected.
 */
export const rawWs: System = makeRawWs(64, Number.POSITIVE_INFINITY);

/**
 * The same, with frames as large as SFN's batches (a whole turn's messages, up to 256 KiB):
 * on loopback each frame costs the publisher a `writev` per subscriber, a cost that 64-message
 * frames pay about 16 times as often as SFN does at saturation.
 */
export const rawWsLarge: System = makeRawWs(Number.POSITIVE_INFINITY, MAX_FRAME_BYTES);

function makeRawWs(maxMessages: number, maxBytes: number): System {
  const framing = Number.isFinite(maxMessages) ? `${maxMessages} msgs/frame` : `${maxBytes / 1024} KiB frames`;
  return {
    name: `raw ws ceiling, ${framing}${useUnpackr ? ", msgpackr decode" : ""}`,
    async subscriber(topic, onPayload) {
      const expected = new Packr().pack(topic);
      const unpackr = new Unpackr({ mapsAsObjects: false });
      const onFrame = useUnpackr ? decodeWithUnpackr(unpackr, topic, onPayload) : decodeByHand(expected, onPayload);
      const sockets = new Set<WebSocket>();
      const server = http.createServer((req, res) => {
        const port = Number(new URL(req.url ?? "/", "http://localhost").searchParams.get("port"));
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, maxPayload: MAX_PAYLOAD });
        ws.binaryType = "nodebuffer";
        ws.on("message", (data) => onFrame(data as Buffer));
        ws.once("open", () => {
          sockets.add(ws);
          res.end("connected");
        });
        ws.once("error", (err) => res.writeHead(502).end(String(err)));
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as AddressInfo;
      return {
        address: `http://127.0.0.1:${port}`,
        sub: {
          close: async () => {
            for (const ws of sockets) ws.terminate();
            server.close();
          },
        },
      };
    },

    async publisher(topic, address) {
      const t = new Packr().pack(topic);
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: MAX_PAYLOAD });
      await once(wss, "listening");
      const { port } = wss.address() as AddressInfo;
      const urls = (address ?? "").split(",").filter(Boolean);

      interface Client {
        ws: WebSocket;
        inflight: number;
      }
      const clients: Client[] = [];
      const connected = new Promise<void>((resolve) =>
        wss.on("connection", (ws) => {
          clients.push({ ws, inflight: 0 });
          if (clients.length === urls.length) resolve();
        }),
      );
      await Promise.all(
        urls.map(async (url) => {
          const res = await fetch(`${url}/dial?port=${port}`);
          if (!res.ok) throw new Error(`subscriber at ${url} could not connect: ${await res.text()}`);
        }),
      );
      await connected;

      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let scheduled = false;
      // Subscribers at or past HIGH_WATER.
      let full = 0;
      let waiter: (() => void) | undefined;
      const belowHalf = (): boolean => clients.every((c) => c.inflight < HIGH_WATER / 2);

      const sent = (c: Client, size: number): void => {
        const was = c.inflight;
        c.inflight -= size;
        if (was >= HIGH_WATER && c.inflight < HIGH_WATER) full--;
        if (waiter && was >= HIGH_WATER / 2 && c.inflight < HIGH_WATER / 2 && belowHalf()) {
          const w = waiter;
          waiter = undefined;
          w();
        }
      };

      const flush = (): void => {
        scheduled = false;
        const batch = pending;
        pending = [];
        pendingBytes = 0;
        for (let i = 0; i < batch.length; ) {
          let end = i;
          let size = 0;
          while (end < batch.length && end - i < maxMessages) {
            const m = messageSize(t, (batch[end] as Buffer).length);
            if (end > i && size + m > maxBytes) break;
            size += m;
            end++;
          }
          // Encoded once, the same Buffer to every subscriber.
          const frame = Buffer.allocUnsafe(size);
          let o = 0;
          for (let j = i; j < end; j++) o = writeMessage(frame, o, t, batch[j] as Buffer);
          for (const c of clients) {
            const was = c.inflight;
            c.inflight += size;
            if (was < HIGH_WATER && c.inflight >= HIGH_WATER) full++;
            c.ws.send(frame, { binary: true, compress: false }, () => sent(c, size));
          }
          i = end;
        }
      };

      return {
        publish: (payload) => {
          pending.push(payload);
          pendingBytes += messageSize(t, payload.length);
          if (!scheduled) {
            scheduled = true;
            setImmediate(flush);
          }
          return full === 0 && pendingBytes < HIGH_WATER;
        },
        drain: () => {
          if (pending.length > 0) flush();
          return belowHalf() ? Promise.resolve() : new Promise<void>((resolve) => (waiter = resolve));
        },
        flush: async () => {
          if (pending.length > 0) flush();
          while (clients.some((c) => c.inflight > 0)) await new Promise((r) => setTimeout(r, 2));
        },
        close: async () => {
          for (const c of clients) c.ws.close();
          await new Promise((r) => wss.close(r));
        },
      };
    },
  };
}

function binHeadLength(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function messageSize(topic: Uint8Array, payloadLength: number): number {
  return topic.length + binHeadLength(payloadLength) + payloadLength;
}

/** Writes `topic` (packed str) and `payload` as a MessagePack bin at `o`; returns the offset after. */
function writeMessage(out: Buffer, o: number, topic: Uint8Array, payload: Buffer): number {
  out.set(topic, o);
  o += topic.length;
  const n = payload.length;
  if (n < 0x100) {
    out[o++] = 0xc4;
    out[o++] = n;
  } else if (n < 0x10000) {
    out[o++] = 0xc5;
    out.writeUInt16BE(n, o);
    o += 2;
  } else {
    out[o++] = 0xc6;
    out.writeUInt32BE(n, o);
    o += 4;
  }
  out.set(payload, o);
  return o + n;
}

/** Reads `str topic, bin payload` pairs by hand; a message for another topic is skipped. */
function decodeByHand(topic: Uint8Array, onPayload: (b: Uint8Array) => void): (data: Buffer) => void {
  const tl = topic.length;
  return (data) => {
    let o = 0;
    const n = data.length;
    const memory = data.buffer;
    const base = data.byteOffset;
    while (o < n) {
      // The topic: any str header, then its bytes.
      const start = o;
      const h = data[o] as number;
      let len: number;
      if ((h & 0xe0) === 0xa0) {
        len = h & 0x1f;
        o += 1;
      } else if (h === 0xd9) {
        len = data[o + 1] as number;
        o += 2;
      } else if (h === 0xda) {
        len = data.readUInt16BE(o + 1);
        o += 3;
      } else throw new Error(`raw ws: expected a str topic at ${o}, found 0x${h.toString(16)}`);
      // The whole packed topic (header included) against the subscribed one.
      let same = o + len - start === tl;
      for (let i = 0; same && i < tl; i++) same = data[start + i] === topic[i];
      o += len;
      // The payload: a bin.
      const b = data[o] as number;
      let pl: number;
      if (b === 0xc4) {
        pl = data[o + 1] as number;
        o += 2;
      } else if (b === 0xc5) {
        pl = data.readUInt16BE(o + 1);
        o += 3;
      } else if (b === 0xc6) {
        pl = data.readUInt32BE(o + 1);
        o += 5;
      } else throw new Error(`raw ws: expected a bin payload at ${o}, found 0x${b.toString(16)}`);
      if (o + pl > n) throw new Error("raw ws: truncated frame");
      // A view as SFN's reader makes it (no species lookup, unlike subarray).
      if (same) onPayload(Buffer.from(memory, base + o, pl));
      o += pl;
    }
  };
}

/** Decodes every value of a frame with msgpackr's `unpackMultiple`: topic, payload, topic, payload... */
function decodeWithUnpackr(unpackr: Unpackr, topic: string, onPayload: (b: Uint8Array) => void): (data: Buffer) => void {
  return (data) => {
    let t: unknown;
    let even = true;
    unpackr.unpackMultiple(data, (value: unknown) => {
      if (even) t = value;
      else if (t === topic) onPayload(value as Uint8Array);
      even = !even;
    });
  };
}
