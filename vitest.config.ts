import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    pool: "forks",
    // The control plane already uses the machine's cores; keep test workers few.
    maxWorkers: 2,
    projects: [
      {
        // Pure modules beside their source: no cluster, seconds (`npm run test:unit`).
        extends: true,
        test: { name: "unit", include: ["controller/**/*.test.ts"] },
      },
      {
        // Against a real control plane (`npm run test:integration`). Vitest runs a project's
        // global setup only when that project has test files to run, so unit runs never start it.
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          // One real control plane per test run (started here, torn down at the end); see test/env/.
          globalSetup: ["test/env/global-setup.ts"],
          // Cold start of the control plane can take a while on a 2-core machine.
          hookTimeout: 180_000,
          testTimeout: 120_000,
        },
      },
    ],
  },
});
