// rpc-server-1: listens for links and publishes a greeting every second.
import { MessageChannel } from "@sfn/channel-core";

const port = Number(process.env.SEED_PORT ?? 4100);
// The shared secret comes from the environment (`pnpm start` generates one for both services).
const secret = process.env.SFN_SECRET;
if (!secret) {
  console.error(`SFN_SECRET is not set; generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`);
  process.exit(1);
}
const message = new MessageChannel({ id: "rpc-server-1", secret });
const { url } = await message.listen({ port, host: "127.0.0.1" });
console.log(`rpc-server-1 listening on ${url}`);

message.on("link:up", ({ peer }) => console.log(`rpc-server-1: link to ${peer} is up`));
message.on("link:down", ({ peer, reason }) => console.log(`rpc-server-1: link to ${peer} is down (${reason})`));
message.subscribe("greeting", (msg, meta) => console.log(`rpc-server-1 got "${String(msg)}" from ${meta.from}`));

let n = 0;
const timer = setInterval(() => message.publish("greeting", `Hello, World! #${++n}`), 1000);

const stop = async (): Promise<void> => {
  clearInterval(timer);
  await message.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
