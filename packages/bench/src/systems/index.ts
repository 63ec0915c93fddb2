import { nats } from "./nats.js";
import { redis } from "./redis.js";
import { sfn, sfnVolatile } from "./sfn.js";

/** Every system the core benchmark compares. */
export const systems = { sfn, sfnVolatile, redis, nats };
