import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode } from "@sfn/channel-core";
import { startNatsServer, type NatsServer } from "@sfn/test-utils";
import { answerClaim, claimId } from "../src/claim.js";
import { SubjectSpace } from "../src/subjects.js";

const space = new SubjectSpace("claim-test");
let server: NatsServer;
const opened: NatsConnection[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await Promise.all(opened.map((nc) => (nc.isClosed() ? undefined : nc.close())));
  await server?.stop();
});

async function client(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  opened.push(nc);
  return nc;
}

it("a free id is claimed at once; a held one is refused with ERR_DUPLICATE_ID; ordinary inbox traffic is not a claim", async () => {
  const holder = await client();
  expect(await claimId(holder, space, "web.server 1", "holder-1")).toBe("free");
  const inbox: string[] = [];
  const sub = holder.subscribe(space.inbox("web.server 1"), {
    callback: (err, msg) => {
      if (!err && !answerClaim(msg, "holder-1")) inbox.push(msg.string());
    },
  });
  await holder.flush();

  const newcomer = await client();
  await expect(claimId(newcomer, space, "web.server 1", "newcomer-1")).rejects.toMatchObject({
    code: ErrorCode.DUPLICATE_ID,
    name: "DuplicateIdError",
    message: expect.stringContaining("holder-1"),
  });
  // Another id is free; the holder's ordinary `{ to }` messages are not taken for claims.
  expect(await claimId(newcomer, space, "web-server-2", "newcomer-1")).toBe("free");
  newcomer.publish(space.inbox("web.server 1"), "to you");
  await newcomer.flush();
  await holder.flush();
  expect(inbox).toEqual(["to you"]);

  // Once the holder has left cleanly (unsubscribed, as a closing router drains), the id is free again.
  sub.unsubscribe();
  await holder.flush();
  expect(await claimId(newcomer, space, "web.server 1", "newcomer-1")).toBe("free");
});

it("a subscriber on the inbox that does not answer (a holder not yet noticed dead) is no-answer, not a refusal", async () => {
  const stale = await client();
  stale.subscribe(space.inbox("rpc-9"), { callback: () => undefined });
  await stale.flush();
  const newcomer = await client();
  expect(await claimId(newcomer, space, "rpc-9", "n-1", 200)).toBe("no-answer");
});
