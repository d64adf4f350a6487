import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "packages/services/*/*/test/**/*.test.ts", "test/**/*.test.ts", "native/test/**/*.test.ts", "examples/*/*.test.ts"],
    // Integration tests share network namespaces, real servers and 2 cores: keep files serial
    // where they declare it, but let the pure unit tests run in parallel.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
