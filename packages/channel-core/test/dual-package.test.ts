// The dual-package hazard: an app (or two of its dependencies) can load the ESM build
// (dist/index.js) and the CJS build (dist/index.cjs) in one process, each with its own
// ChannelError class. An error of one must still be a channel error to the other.
// This tests the built files, as users get them: run `pnpm -F @sfn/channel-core build` first.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dist = join(__dirname, "..", "dist");

/** Runs `body` in a fresh Node process with `esm` and `cjs` bound to the two builds; returns what it prints as JSON. */
function withBothBuilds(body: string): Record<string, unknown> {
  const script = `
    import { createRequire } from "node:module";
    const esm = await import(${JSON.stringify(pathToFileURL(join(dist, "index.js")).href)});
    const cjs = createRequire(import.meta.url)(${JSON.stringify(join(dist, "index.cjs"))});
    ${body}
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`node exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(() => {
  if (!existsSync(join(dist, "index.js")) || !existsSync(join(dist, "index.cjs"))) {
    throw new Error("dist/ is missing: run `pnpm -F @sfn/channel-core build` before this test");
  }
});

test("the two builds have distinct ChannelError classes (the hazard is real)", () => {
  const r = withBothBuilds(`console.log(JSON.stringify({ distinct: esm.ChannelError !== cjs.ChannelError }));`);
  expect(r.distinct).toBe(true);
});

test("isChannelError recognises an error of the other build, both ways", () => {
  const r = withBothBuilds(`console.log(JSON.stringify({
    esmSeesCjs: esm.isChannelError(new cjs.InvalidTopicError("bad topic")),
    cjsSeesEsm: cjs.isChannelError(new esm.AuthError("ERR_AUTH_FAILED", "wrong secret")),
    esmSeesCjsBase: esm.isChannelError(new cjs.ChannelError("ERR_X", "adapter code")),
  }));`);
  expect(r).toEqual({ esmSeesCjs: true, cjsSeesEsm: true, esmSeesCjsBase: true });
});

test("instanceof ChannelError holds across the builds; instanceof a subclass stays exact", () => {
  const r = withBothBuilds(`
    const fromCjs = new cjs.SubscriberError("listener threw", "orders.created");
    const fromEsm = new esm.ClosedError();
    console.log(JSON.stringify({
      cjsInstanceofEsm: fromCjs instanceof esm.ChannelError,
      esmInstanceofCjs: fromEsm instanceof cjs.ChannelError,
      sameBuildSubclass: fromEsm instanceof esm.ClosedError,
      otherSubclass: fromEsm instanceof esm.AuthError,
      code: fromCjs.code,
    }));`);
  expect(r).toEqual({
    cjsInstanceofEsm: true,
    esmInstanceofCjs: true,
    sameBuildSubclass: true,
    otherSubclass: false,
    code: "ERR_SUBSCRIBER",
  });
});

test("nothing else passes for a channel error", () => {
  const r = withBothBuilds(`
    const values = [new Error("plain"), { code: "ERR_AUTH_FAILED", name: "ChannelError" }, null, undefined, "ERR_CLOSED", Object.create(null)];
    console.log(JSON.stringify({
      isChannelError: values.map((v) => esm.isChannelError(v) || cjs.isChannelError(v)),
      instanceOf: values.map((v) => v instanceof esm.ChannelError || v instanceof cjs.ChannelError),
      brandHidden: Object.keys(new esm.ClosedError()).includes("sfn.channel.error") || JSON.stringify(new esm.ClosedError()).includes("sfn"),
    }));`);
  expect(r).toEqual({
    isChannelError: [false, false, false, false, false, false],
    instanceOf: [false, false, false, false, false, false],
    brandHidden: false,
  });
});
