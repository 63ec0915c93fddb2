module.exports = require("../../packages/test-utils/jest-preset.cjs")(__dirname, { testTimeout: 120000 });
