import { nats } from "./nats.js";
import { natsJs } from "./nats-js.js";
import { natsJetStream } from "./nats-jetstream.js";
import { rawWs, rawWsLarge } from "./raw-ws.js";
import { redis } from "./redis.js";
import { sfn, sfnVolatile } from "./sfn.js";
import { sfnDurable } from "./sfn-durable.js";
import { sfnNats } from "./sfn-nats.js";

/** Every system the benchmarks compare (the core section runs sfn, sfnVolatile, redis, nats, rawWs, rawWsLarge). */
export const systems = { sfn, sfnVolatile, redis, nats, natsJs, natsJetStream, sfnNats, sfnDurable, rawWs, rawWsLarge };
