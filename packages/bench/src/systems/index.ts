import { nats } from "./nats.js";
import { redis } from "./redis.js";
import { sfn } from "./sfn.js";

/** Every system the core benchmark compares. */
export const systems = { sfn, redis, nats };
