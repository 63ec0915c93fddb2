import { MessageChannel } from "./message-channel.js";

interface Topics {
  greeting: string;
  "orders.created": { id: number };
  "orders.deleted": { id: number; reason: string };
  "users.login": { user: string };
}

// These lines are checked by `pnpm typecheck`: each @ts-expect-error must be an error.
function typeChecks(ch: MessageChannel<Topics>): void {
  ch.publish("greeting", "hi");
  ch.publish("orders.created", { id: 1 });
  // @ts-expect-error wrong payload type
  ch.publish("greeting", 42);
  // @ts-expect-error unknown topic
  ch.publish("nope", "x");
  ch.subscribe("orders.created", (data) => {
    const id: number = data.id;
    void id;
  });
  ch.subscribe("orders.*", (data, meta) => {
    const id: number = data.id;
    const t: "orders.created" | "orders.deleted" = meta.topic;
    void id;
    void t;
    // @ts-expect-error `reason` exists only on orders.deleted
    void data.reason;
  });
  // @ts-expect-error a greeting is a string
  ch.subscribe("greeting", (data: number) => void data);

  const untyped = new MessageChannel({ id: "x" });
  untyped.publish("anything.at.all", { any: "payload" });
  untyped.subscribe("any.>", (data: unknown) => void data);
}

describe("typed topics", () => {
  it("compiles the typed calls (checked by tsc) and runs them", () => {
    const ch = new MessageChannel<Topics>({ id: "typed" });
    const seen: unknown[] = [];
    ch.subscribe("orders.*", (data) => seen.push(data));
    ch.publish("orders.created", { id: 7 });
    expect(seen).toEqual([{ id: 7 }]);
    expect(typeof typeChecks).toBe("function");
  });
});
