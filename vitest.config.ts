import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["controller/**/*.test.ts", "test/**/*.test.ts"],
    // One real control plane per test run (started here, torn down at the end); see test/env/.
    globalSetup: ["test/env/global-setup.ts"],
    // Cold start of the control plane can take a while on a 2-core machine.
    hookTimeout: 180_000,
    testTimeout: 120_000,
    pool: "forks",
    // The control plane already uses the machine's cores; keep test workers few.
    maxWorkers: 2,
  },
});
