import { MessageChannel } from "@sfn/channel-core";
import { until } from "@sfn/test-utils";
import type { MakeChannels } from "./run-conformance.js";

/** The conformance target of the mesh: every channel listens on port 0 and dials the ones after it; resolves once all links are up. */
export const meshChannels: MakeChannels = async (ids) => {
  const channels = ids.map((id) => new MessageChannel({ id, reconnect: { initialDelay: 20, maxDelay: 200 } }));
  const close = () => Promise.all(channels.map((c) => c.close({ drainTimeout: 0 }))).then(() => undefined);
  try {
    const urls = await Promise.all(channels.map(async (c) => (await c.listen({ port: 0 })).url));
    await Promise.all(channels.flatMap((c, i) => urls.slice(i + 1).map((url) => c.connect(url))));
    await until(() => channels.every((c) => c.peers().filter((p) => p.state === "up").length === ids.length - 1), 20_000, "a full mesh");
  } catch (error) {
    await close();
    throw error;
  }
  return { channels, close };
};
