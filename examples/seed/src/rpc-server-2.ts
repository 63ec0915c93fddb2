// rpc-server-2: links to rpc-server-1 and prints what it publishes.
import { MessageChannel } from "@sfn/channel-core";

const url = process.env.SEED_URL ?? `ws://127.0.0.1:${process.env.SEED_PORT ?? 4100}/`;
// The shared secret comes from the environment (`pnpm start` generates one for both services).
const secret = process.env.SFN_SECRET;
if (!secret) {
  console.error(`SFN_SECRET is not set; generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`);
  process.exit(1);
}
const message = new MessageChannel({ id: "rpc-server-2", secret });
message.subscribe("greeting", (msg, meta) => console.log(`rpc-server-2 got "${String(msg)}" from ${meta.from}`));
message.on("link:down", ({ peer, reason }) => console.log(`rpc-server-2: link to ${peer} is down (${reason}); reconnecting`));
message.on("link:up", ({ peer, resumed }) =>
  console.log(`rpc-server-2: link to ${peer} is up${resumed ? " (resumed, nothing lost)" : ""}`),
);

await message.connect(url, { timeout: 30000 });
message.publish("greeting", "Hello from rpc-server-2");

const stop = async (): Promise<void> => {
  await message.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
