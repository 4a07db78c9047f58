import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    // Generous: a loaded 2-core machine can be several times slower than a quiet one.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Each file makes its own database; two cores run two files at once.
    maxWorkers: 2,
  },
});
