import { defineConfig } from "vitest/config";

/** `npm run soak`: the heavy randomized fault runs, kept out of `npm test`. */
export default defineConfig({
  test: {
    include: ["test/soak/**/*.soak.ts"],
    pool: "forks",
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
  },
});
