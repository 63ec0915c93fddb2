// The durable chaos run (a 3-node JetStream cluster, SIGKILLs, about a minute) runs on demand,
// `pnpm test:chaos`, not in every `pnpm test`: it is the open part of the durable-delivery work
// (see the README's "Known issue"), and CI must not land or fail on it by chance.
const chaos = process.env.SFN_DURABLE_CHAOS === "1";
module.exports = require("../test-utils/jest-preset.cjs")(
  __dirname,
  chaos ? {} : { testPathIgnorePatterns: ["/node_modules/", "/test/durable-chaos\\.test\\.ts$"] },
);
