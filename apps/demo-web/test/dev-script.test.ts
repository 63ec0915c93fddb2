import { readFileSync } from "node:fs";
import { join } from "node:path";

// `pnpm dev` runs both demo apps under turbo. The root README tells users to stop demo-rpc and
// start it again on its own: without `--continue`, turbo treats demo-rpc's exit as a failure of
// the run and kills demo-web with it, so the page has nothing to reconnect to.
test("pnpm dev keeps demo-web running when demo-rpc stops (turbo --continue)", () => {
  const root = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8"));
  expect(root.scripts.dev).toMatch(/^turbo run dev\b.*\s--continue\b/);
});
