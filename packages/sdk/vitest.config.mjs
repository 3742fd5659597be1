import { defineConfig } from "vitest/config";

// SDK unit tests need no database: run them alone with
//   npx vitest run packages/sdk --config packages/sdk/vitest.config.mjs
export default defineConfig({
  test: {
    include: ["packages/sdk/test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
