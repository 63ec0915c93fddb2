import { readFileSync } from "node:fs";
import { join } from "node:path";

// `pnpm dev` runs both demo apps under turbo. The root README tells users to stop demo-rpc and
// start it again on its own: without `--continue`, turbo treats demo-rpc's exit as a failure of
// the run and kills demo-web with it, so the page has nothing to reconnect to.
test("pnpm dev keeps demo-web running when demo-rpc stops (turbo --continue)", () => {
  const root = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8"));
  expect(root.scripts.dev).toMatch(/^turbo run dev\b.*\s--continue\b/);
});

// `pnpm dev:nats` runs the same turbo task with DEMO_ROUTER=nats and NATS_URL: turbo (strict
// env mode) hands the apps only the variables listed, so without them the demo would silently
// run as a mesh.
test("pnpm dev:nats runs the demo through turbo with DEMO_ROUTER and NATS_URL passed to the apps", () => {
  const root = join(__dirname, "..", "..", "..");
  const scripts = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts;
  expect(scripts["dev:nats"]).toBe("node scripts/dev-nats.mjs");
  const wrapper = readFileSync(join(root, "scripts", "dev-nats.mjs"), "utf8");
  expect(wrapper).toContain('"turbo", "run", "dev", "--continue"');
  expect(wrapper).toContain('DEMO_ROUTER: "nats"');
  const turbo = JSON.parse(readFileSync(join(root, "turbo.json"), "utf8"));
  expect(turbo.tasks.dev.passThroughEnv).toEqual(expect.arrayContaining(["DEMO_ROUTER", "NATS_URL"]));
});
