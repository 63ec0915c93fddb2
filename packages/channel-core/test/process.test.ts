import { join } from "node:path";
import { spawnService, testSecret, type ServiceProcess } from "@sfn/test-utils";
import { Mesh } from "./helpers.js";

const fixture = join(__dirname, "fixtures/service.ts");
const mesh = new Mesh();
const children: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()));
  await mesh.close();
});

describe("the seed example across two processes", () => {
  it("rpc-server-2 (another process) receives rpc-server-1's greeting, and the reverse", async () => {
    const { ch: one, url } = await mesh.listening("rpc-server-1", { secret: testSecret });
    const got: unknown[] = [];
    one.subscribe("greeting", (d) => got.push(d));
    const two = await spawnService(fixture, ["rpc-server-2", "--connect", url, "--secret", testSecret, "--subscribe", "greeting"]);
    children.push(two);
    await two.next((m: { type?: string }) => m.type === "ready");
    const { until } = await import("@sfn/test-utils");
    await until(() => one.peers()[0]?.subscriptions === 1);
    one.publish("greeting", "Hello, World!");
    const msg = await two.next((m: { type?: string }) => m.type === "message");
    expect(msg).toEqual({ type: "message", topic: "greeting", from: "rpc-server-1", data: "Hello, World!" });
    two.send({ cmd: "publish", topic: "greeting", data: "Hello back" });
    await until(() => got.includes("Hello back"));
  });
});
