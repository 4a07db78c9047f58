import { describe, expect, it } from "vitest";
import { markdownTable, runLine } from "../../bench/lib/history.js";

/** A full result with only what the goals and the table read. */
function result(ratio300k: number, ratio1M: number, c8: number) {
  const suite = (ratio: number, peakRssMb: number) => ({
    runs: [{ sync: { rowsPerSecond: ratio * 50_000 }, copy: { rowsPerSecond: 50_000 } }],
    median: {
      backfillRowsPerSecond: ratio * 50_000,
      copyRowsPerSecond: 50_000,
      ratio,
      ratioToSchemaCopy: ratio / 0.7,
      schemaCopyRowsPerSecond: 35_000,
      peakRssMb,
      nothingNewPassSeconds: 0.6,
      nothingNewProcessSeconds: 1.1,
      nothingNewPages: 22,
    },
  });
  return {
    date: "2026-12-07T09:29:03.123Z",
    commit: "634cbf8",
    settings: { records: 300_000 },
    backfill: suite(ratio300k, 290),
    big: { ...suite(ratio1M, 300), kept: { summarizer: { median: { rebuildSeconds: 2, dirtyDaySeconds: 0.05 } } } },
    latency: { latencyMs: 150, medianRowsPerSecond: { "1": 3_650, "4": 15_000, "8": c8 } },
  };
}

describe("the table of benchmark runs", () => {
  it("gives a run's ratios cut to three places, its goals by the report's rules, and marks each miss", () => {
    const miss = runLine(result(0.4979, 0.55, 21_000), "2026-12-07-fifteenth", "abc1234")!;
    const hit = runLine({ ...result(0.5, 0.6, 25_550), date: "2026-12-07T10:01:00.000Z" }, "2026-12-07-fifteenth", "def5678")!;
    expect(miss).toMatchObject({ started: "2026-12-07 09:29", measured: "634cbf8", met: 6, judged: 8 });
    expect(markdownTable([miss, hit])).toBe(
      [
        "| run (UTC) | results | COPY rows/s | backfill rows/s | ratio 300k | ratio 1M | own table 300k / 1M | c8/c1 | goals met | in git |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        "| 2026-12-07 09:29 | 2026-12-07-fifteenth | 50000 | 24895 | **0.497** | 0.550 | 0.711 / 0.785 | **5.75** | 6/8 | abc1234 |",
        "| 2026-12-07 10:01 | 2026-12-07-fifteenth | 50000 | 25000 | 0.500 | 0.600 | 0.714 / 0.857 | 7.00 | 8/8 | def5678 |",
        "",
        "2 runs: ratio 300k >= 0.5 in 1, ratio 1M >= 0.5 in 2, c8/c1 >= 6 in 1, every goal in 1.",
      ].join("\n"),
    );
  });

  it("cuts the concurrency ratio too, so that a miss never prints as 6.00", () => {
    const line = runLine(result(0.5, 0.5, 3_650 * 5.996), "x", "abc1234")!;
    expect(markdownTable([line]).split("\n")[2]).toContain("| **5.99** |");
  });

  it("leaves out a run without every section, which cannot be compared", () => {
    const { latency: _, ...noLatency } = result(0.5, 0.5, 25_000);
    expect(runLine(noLatency, "x", "abc1234")).toBeNull();
  });
});
