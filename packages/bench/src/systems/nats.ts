import { connect } from "nats";
import { natsSystem } from "./nats-js.js";
import type { System } from "./types.js";

/** NATS core pub/sub through the `nats` 2.x client (the core section's anchor). */
export const nats: System = natsSystem("nats core (nats.js)", () =>
  connect({ servers: (process.env.NATS_URL ?? "nats://127.0.0.1:4222").replace(/^nats:\/\//, "") }),
);
