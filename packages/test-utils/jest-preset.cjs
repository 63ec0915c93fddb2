// Shared jest configuration: TypeScript through @swc/jest (no type checking here;
// `pnpm typecheck` does that), sources of sibling packages mapped directly.
const path = require("node:path");

module.exports = function preset(dir, overrides = {}) {
  const packages = path.resolve(__dirname, "..");
  return {
    rootDir: dir,
    testEnvironment: "node",
    testMatch: ["<rootDir>/src/**/*.test.ts", "<rootDir>/test/**/*.test.ts"],
    transform: {
      "^.+\\.(t|j)sx?$": [
        require.resolve("@swc/jest"),
        { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } },
      ],
    },
    moduleNameMapper: {
      "^@sfn/channel-core$": path.join(packages, "channel-core/src/index.ts"),
      "^@sfn/channel-core/internal$": path.join(packages, "channel-core/src/internal.ts"),
      "^@sfn/channel-ws$": path.join(packages, "channel-ws/src/index.ts"),
      "^@sfn/channel-sse$": path.join(packages, "channel-sse/src/index.ts"),
      "^@sfn/test-utils$": path.join(packages, "test-utils/src/index.ts"),
      "^(\\.{1,2}/.*)\\.js$": "$1",
    },
    reporters: ["default", path.join(__dirname, "summary-reporter.cjs")],
    testTimeout: 60000,
    ...overrides,
  };
};
