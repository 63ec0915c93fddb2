import { MessageChannel } from "@sfn/channel-core";
import { withSse, type SseFrontEndOptions } from "../src/index.js";

const invalid = (message: RegExp) =>
  expect.objectContaining({ code: "ERR_INVALID_OPTION", name: "InvalidOptionError", message: expect.stringMatching(message) });

describe("withSse(channel, options)", () => {
  it("refuses an idKey shorter than 16 bytes at once, not at the first browser's request", async () => {
    const channel = new MessageChannel({ id: "web-1" });
    try {
      expect(() => withSse(channel, { idKey: "short" })).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
      expect(() => withSse(channel, { idKey: new Uint8Array(15) })).toThrow(expect.objectContaining({ code: "ERR_INVALID_OPTION" }));
      expect(withSse(channel, { idKey: new Uint8Array(16).fill(7) }).sse).toBeDefined();
    } finally {
      await channel.close();
    }
  });

  it("refuses every bad option value at once, naming the option, and leaves the channel untouched", async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ maxEventBytes: "abc" }, /^maxEventBytes must be a positive integer/],
      [{ maxEventBytes: 0 }, /^maxEventBytes must be a positive integer/],
      [{ retry: "3000" }, /^retry must be a non-negative integer/],
      [{ retry: -5 }, /^retry must be a non-negative integer/],
      [{ retry: 1.5 }, /^retry must be a non-negative integer/],
      [{ keepAlive: -1 }, /^keepAlive must be a non-negative integer/],
      [{ keepAlive: 2 ** 31 }, /^keepAlive must be a non-negative integer of at most 2147483647/],
      [{ historySize: -1 }, /^historySize must be a non-negative integer/],
      [{ historySize: Number.POSITIVE_INFINITY }, /^historySize must be/],
      [{ historyAge: Number.NaN }, /^historyAge must be a non-negative integer/],
      [{ historyBytes: "8MiB" }, /^historyBytes must be a non-negative integer/],
      [{ maxBufferBytes: -1 }, /^maxBufferBytes must be a non-negative integer/],
      [{ closedTtl: null }, /^closedTtl must be a non-negative integer/],
      [{ serialize: "json" }, /^serialize must be a function/],
      [{ idKey: 1234 }, /^idKey must be a string or a Uint8Array/],
      [{ historySise: 10 }, /^"historySise" is not an SSE option/],
    ];
    const channel = new MessageChannel({ id: "web-1" });
    try {
      for (const [options, message] of bad) {
        expect(() => withSse(channel, options as SseFrontEndOptions)).toThrow(invalid(message));
        expect("sse" in channel).toBe(false); // no side effect: the channel did not get `sse`
      }
      expect(() => withSse(channel, "fast" as unknown as SseFrontEndOptions)).toThrow(invalid(/options must be an object/));
    } finally {
      await channel.close();
    }
  });

  it("accepts the documented values, 0 where it means none, and refuses bad ones given to serve() too", async () => {
    const channel = withSse(new MessageChannel({ id: "web-1" }), {
      retry: 0,
      keepAlive: 0,
      historySize: 0,
      historyAge: 0,
      historyBytes: 0,
      maxEventBytes: 1,
      maxBufferBytes: 0,
      closedTtl: 0,
      serialize: JSON.stringify,
      idKey: undefined,
    });
    try {
      expect(() => channel.sse.serve({ maxEventBytes: "abc" } as unknown as SseFrontEndOptions)).toThrow(
        invalid(/^maxEventBytes must be a positive integer/),
      );
      expect(channel.sse.servers()).toEqual([]); // not serving: the bad call had no effect
      const stop = channel.sse.serve({ retry: 100, keepAlive: 15_000, historySize: 3, historyBytes: 256 * 1024, maxEventBytes: 4096 });
      expect(channel.sse.servers()).toEqual(["web-1"]);
      stop();
    } finally {
      await channel.close();
    }
  });
});
