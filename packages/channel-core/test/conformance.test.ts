// Through the package name, like the conformance suite itself (see run-conformance.ts).
import { MessageChannel } from "@sfn/channel-core";
import { meshChannels } from "./conformance/mesh.js";
import { MemoryBus } from "./conformance/memory-router.js";
import { runConformance } from "./conformance/run-conformance.js";

runConformance("mesh", meshChannels);

runConformance("in-memory router", async (ids) => {
  const bus = new MemoryBus();
  const channels = ids.map((id) => new MessageChannel({ id, router: bus.router() }));
  return { channels, close: () => Promise.all(channels.map((c) => c.close())).then(() => undefined) };
});
