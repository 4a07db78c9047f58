import { describe, expect, it } from "vitest";
import { CommitLane } from "../../src/sync/commit-lane.js";

const deferred = () => {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
const settle = () => new Promise((r) => setTimeout(r, 5));

describe("CommitLane", () => {
  it("starts each commit after the one before ended, without waiting for it to end", async () => {
    const events: string[] = [];
    const gate = deferred();
    const lane = new CommitLane(gate.promise);
    const commits = [deferred(), deferred()];
    const first = lane.start(async () => {
      events.push("commit 0");
      await commits[0]!.promise;
      events.push("committed 0");
    });
    await settle();
    // The first commit waits for the previous batch (the gate).
    expect(events).toEqual([]);
    gate.resolve();
    await first;
    // start() returned while commit 0 runs: the fetcher goes on to its next request meanwhile.
    expect(events).toEqual(["commit 0"]);
    const second = lane.start(
      async () => {
        events.push("commit 1");
        await commits[1]!.promise;
        events.push("committed 1");
      },
      () => events.push("release"),
    );
    await settle();
    expect(events).toEqual(["commit 0"]);
    commits[0]!.resolve();
    await second;
    expect(events).toEqual(["commit 0", "committed 0", "release", "commit 1"]);
    commits[1]!.resolve();
    await lane.drain();
    expect(events.at(-1)).toBe("committed 1");
  });

  it("is not held back by a previous batch that failed", async () => {
    const lane = new CommitLane(Promise.reject(new Error("the batch before failed")));
    let ran = false;
    await lane.start(async () => {
      ran = true;
    });
    await lane.drain();
    expect(ran).toBe(true);
  });

  it("throws a failed commit from the next start, which then commits nothing, and from drain", async () => {
    const lane = new CommitLane();
    await lane.start(async () => {
      throw new Error("database gone");
    });
    let second = false;
    await expect(
      lane.start(async () => {
        second = true;
      }),
    ).rejects.toThrow("database gone");
    expect(second).toBe(false);
    await expect(lane.drain()).rejects.toThrow("database gone");
  });

  it("leaves with the fetch's error only once the commit in flight has ended, or with that commit's failure", async () => {
    const commit = deferred();
    const lane = new CommitLane();
    await lane.start(() => commit.promise);
    let left = false;
    const leaving = lane.finish(Promise.reject(new Error("listing failed"))).catch((err: Error) => {
      left = true;
      return err.message;
    });
    await settle();
    expect(left).toBe(false);
    commit.resolve();
    expect(await leaving).toBe("listing failed");

    const failing = new CommitLane();
    await failing.start(async () => {
      throw new Error("database gone");
    });
    await expect(failing.finish(Promise.reject(new Error("listing failed")))).rejects.toThrow("database gone");
  });
});
