import { describe, expect, it } from "vitest";
import { runBatchedPool, type BatchChoice } from "../../src/sync/pool.js";

interface Item {
  project: string;
  n: number;
}

const items: Item[] = [
  { project: "a", n: 0 },
  { project: "a", n: 1 },
  { project: "b", n: 0 },
  { project: "a", n: 2 },
  { project: "a", n: 3 },
  { project: "b", n: 1 },
  { project: "a", n: 5 },
];

/** Same project, consecutive n, at most three to a batch. */
const extend = (batch: readonly Item[], next: Item): BatchChoice => {
  if (next.project !== batch[0]!.project) return "skip";
  if (batch.length >= 3 || next.n !== batch[batch.length - 1]!.n + 1) return "stop";
  return "take";
};

describe("runBatchedPool", () => {
  it("hands every item to exactly one batch, skipping other projects and stopping at a gap", async () => {
    const batches: string[] = [];
    await runBatchedPool(items, 1, undefined, extend, async (batch) => {
      batches.push(batch.map((i) => `${i.project}${i.n}`).join(","));
    });
    expect(batches).toEqual(["a0,a1,a2", "b0,b1", "a3", "a5"]);
  });

  it("runs batches concurrently and still takes each item once", async () => {
    const seen: string[] = [];
    let running = 0;
    let most = 0;
    await runBatchedPool(items, 3, undefined, extend, async (batch) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      for (const i of batch) seen.push(`${i.project}${i.n}`);
      running--;
    });
    expect(seen.sort()).toEqual(items.map((i) => `${i.project}${i.n}`).sort());
    expect(most).toBeGreaterThan(1);
  });

  it("stops taking batches after one fails, and rethrows that failure", async () => {
    const done: number[] = [];
    await expect(
      runBatchedPool(items, 1, undefined, () => "stop", async (batch) => {
        if (done.length === 2) throw new Error("boom");
        done.push(batch[0]!.n);
      }),
    ).rejects.toThrow("boom");
    expect(done).toHaveLength(2);
  });
});
