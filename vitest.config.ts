import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "packages/services/*/*/test/**/*.test.ts", "test/**/*.test.ts", "native/test/**/*.test.ts", "examples/*/*.test.ts"],
    // Integration tests share network namespaces, real servers and 2 cores: keep files serial
    // where they declare it, but let the pure unit tests run in parallel.
    // Bounds a hang only: a property test that takes 10 s alone took over 30 s beside the namespace
    // tests on a loaded machine (CI, stress-ng); a test's own waits carry their own bounds.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
