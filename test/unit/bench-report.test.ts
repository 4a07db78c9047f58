import { describe, expect, it } from "vitest";
import { median, summarizeResults } from "../../bench/lib/report.js";

/** A benchmark result with only what the goals read: three runs of a 300k backfill. */
function result(runs: [sync: number, copy: number][]) {
  const ratios = runs.map(([s, c]) => s / c);
  return {
    settings: { records: 300_000 },
    backfill: {
      runs: runs.map(([sync, copy]) => ({ sync: { rowsPerSecond: sync }, copy: { rowsPerSecond: copy } })),
      median: {
        backfillRowsPerSecond: median(runs.map(([s]) => s)),
        copyRowsPerSecond: median(runs.map(([, c]) => c)),
        ratio: median(ratios),
        peakRssMb: 288,
        nothingNewPassSeconds: 0.6,
        nothingNewProcessSeconds: 1.1,
        nothingNewPages: 22,
      },
    },
  };
}

describe("the benchmark's COPY goal", () => {
  // The thirteenth machine's second run: its median ratio, 0.4979, was once printed "0.50x" beside met: false.
  const nearMiss = result([
    [25_155, 43_643],
    [23_862, 60_947],
    [27_594, 55_426],
  ]);

  it("is judged on the median of the per-run ratios and says so to three places, cut, not rounded", () => {
    const [goal] = summarizeResults(nearMiss);
    expect(goal).toEqual({
      goal: "backfill >= 0.5x COPY (aim 0.7x)",
      measured: "median of per-run ratios 0.497x (runs 0.576, 0.391, 0.497); median rates 25155 rows/s vs COPY 55426 rows/s",
      met: false,
    });
  });

  it("is met at 0.5 exactly", () => {
    const [goal] = summarizeResults(
      result([
        [20_000, 40_000],
        [21_000, 40_000],
        [19_000, 40_000],
      ]),
    );
    expect(goal!.measured).toBe("median of per-run ratios 0.500x (runs 0.500, 0.525, 0.475); median rates 20000 rows/s vs COPY 40000 rows/s");
    expect(goal!.met).toBe(true);
  });

  it("never prints a miss as 0.500", () => {
    const [goal] = summarizeResults(result([[19_998, 40_000]]));
    expect(goal!.measured).toBe("median of per-run ratios 0.499x (runs 0.499); median rates 19998 rows/s vs COPY 40000 rows/s");
    expect(goal!.met).toBe(false);
  });
});

describe("the benchmark's concurrency goal", () => {
  // The tenth machine's third run: 21,501 against 3,602 rows/s is 5.969x, once printed "6.0x" beside met: false.
  it("says the ratio to two places, cut, so that a miss never prints as 6.0", () => {
    const goals = summarizeResults({ latency: { latencyMs: 150, medianRowsPerSecond: { "1": 3_602, "4": 15_000, "8": 21_501 } } });
    expect(goals).toEqual([
      { goal: "concurrency 8 >= 6x concurrency 1 at 150 ms/page", measured: "21501 vs 3602 rows/s = 5.96x", met: false },
    ]);
  });
});
