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

describe("runBatchedPool handoff", () => {
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };
  const settle = () => new Promise((r) => setTimeout(r, 5));

  it("starts a worker's next batch once the current one releases it, never a third, and tells each when the one before ended", async () => {
    const events: string[] = [];
    const finish = [deferred(), deferred(), deferred()];
    const run = runBatchedPool([0, 1, 2], 1, undefined, () => "stop", async ([n], handoff) => {
      events.push(`start ${n}`);
      void handoff.previous.then(() => events.push(`${n}: the one before ended`));
      handoff.release();
      await finish[n!]!.promise;
      events.push(`end ${n}`);
    });
    await settle();
    // One worker: batch 1 started while 0 runs, and 2 waits although 1 released at once.
    expect(events).toEqual(["start 0", "0: the one before ended", "start 1"]);
    finish[0]!.resolve();
    await settle();
    expect(events).toEqual(["start 0", "0: the one before ended", "start 1", "end 0", "1: the one before ended", "start 2"]);
    finish[2]!.resolve();
    await settle();
    // Batch 2 ended before 1; it is still told when 1 ends.
    expect(events.slice(6)).toEqual(["end 2"]);
    finish[1]!.resolve();
    await run;
    expect(events.slice(7)).toEqual(["end 1", "2: the one before ended"]);
  });

  it("waits for batches that never release, as before, and gives the next one a settled previous after a failure", async () => {
    const seen: string[] = [];
    await expect(
      runBatchedPool([0, 1], 1, undefined, () => "stop", async ([n], handoff) => {
        await handoff.previous;
        seen.push(`run ${n}`);
        if (n === 0) throw new Error("first failed");
      }),
    ).rejects.toThrow("first failed");
    // Without a release the worker waited for batch 0's end, saw the failure and took no more.
    expect(seen).toEqual(["run 0"]);
  });
});
