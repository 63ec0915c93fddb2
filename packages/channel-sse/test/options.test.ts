import { MessageChannel } from "@sfn/channel-core";
import { withSse } from "../src/index.js";

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
});
