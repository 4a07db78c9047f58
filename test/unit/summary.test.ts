import { describe, expect, it } from "vitest";
import { checkDayOption, checkDayRange } from "../../src/summary/summarizer.js";
import { ConfigError } from "../../src/errors.js";
import { usageRange } from "../../src/usage/vendor-fetch.js";
import { formatReconcileTable } from "../../src/commands/reconcile.js";
import { formatSummaryReport } from "../../src/commands/summarize.js";
import type { ReconcileResult } from "../../src/usage/reconcile.js";

describe("day options of summarize and reconcile", () => {
  it("accept calendar days and report every bad one", () => {
    const problems: string[] = [];
    expect(checkDayOption("since", "2026-03-08", problems)).toBe("2026-03-08");
    expect(checkDayOption("until", undefined, problems)).toBeUndefined();
    expect(checkDayOption("since", "2026-02-30", problems)).toBeUndefined();
    expect(checkDayOption("until", "2026-3-8", problems)).toBeUndefined();
    expect(problems).toEqual(['--since must be a calendar day (YYYY-MM-DD); got "2026-02-30".', '--until must be a calendar day (YYYY-MM-DD); got "2026-3-8".']);
  });
  it("are checked together: the days given, or one error naming every bad one", () => {
    expect(checkDayRange({ since: "2026-03-08", until: "2026-03-09" })).toEqual({ since: "2026-03-08", until: "2026-03-09" });
    expect(checkDayRange({ until: "2026-03-09" })).toEqual({ until: "2026-03-09" });
    expect(checkDayRange({})).toEqual({});
    let error: unknown;
    try {
      checkDayRange({ since: "2026-02-30", until: "tomorrow" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(['--since must be a calendar day (YYYY-MM-DD); got "2026-02-30".', '--until must be a calendar day (YYYY-MM-DD); got "tomorrow".']);
  });
});

describe("the /usage days a pass asks for", () => {
  const now = new Date("2026-11-20T00:10:00Z");
  it("are the rescan horizon plus a day, up to today", () => {
    expect(usageRange(now, 72 * 3_600_000, 365, false)).toEqual({ start: "2026-11-16", end: "2026-11-20" });
    expect(usageRange(now, 30 * 60_000, 365, false)).toEqual({ start: "2026-11-18", end: "2026-11-20" });
  });
  it("reach back ARCHIVER_USAGE_SINCE days on a project's first pass", () => {
    expect(usageRange(now, 72 * 3_600_000, 365, true)).toEqual({ start: "2025-11-20", end: "2026-11-20" });
  });
});

describe("the reconcile table", () => {
  const row = (project_id: string, day: string, status: ReconcileResult["rows"][number]["status"], a: number, v: number | null) => ({
    project_id,
    day,
    status,
    archived_requests: a,
    vendor_requests: v,
    archived_hours: a / 10,
    vendor_hours: v === null ? null : v / 10,
  });
  it("lists mismatches first, then days without vendor data, partial days and ok days", () => {
    const rows = [row("p1", "2026-03-01", "ok", 10, 10), row("p1", "2026-03-02", "partial", 3, 9), row("p2", "2026-03-01", "mismatch", 10, 17), row("p1", "2026-03-03", "no_vendor_data", 4, null)];
    const text = formatReconcileTable({ rows, counts: { ok: 1, mismatch: 1, partial: 1, no_vendor_data: 1 }, refetchDue: [], persistent: [] });
    expect(text.split("\n")).toEqual([
      "project  day (UTC)   status          archived req  deepgram req  archived h  deepgram h",
      "p2       2026-03-01  mismatch                  10            17       1.000       1.700",
      "p1       2026-03-03  no_vendor_data             4             -       0.400           -",
      "p1       2026-03-02  partial                    3             9       0.300       0.900",
      "p1       2026-03-01  ok                        10            10       1.000       1.000",
      "",
      "4 days: 1 mismatch, 1 without Deepgram usage, 1 partial, 1 ok",
      "",
    ]);
  });
  it("says what to do when there is nothing to reconcile", () => {
    expect(formatReconcileTable({ rows: [], counts: { ok: 0, mismatch: 0, partial: 0, no_vendor_data: 0 }, refetchDue: [], persistent: [] })).toMatch(/Run `deepgram-archiver sync`/);
  });
});

describe("the summarize report", () => {
  it("names the zone and what changed", () => {
    const text = formatSummaryReport({ timezone: "America/New_York", mode: "rebuild", full: true, previousTimezone: "UTC", days: 91, daysChanged: 91, rowsInserted: 4000, rowsUpdated: 0, rowsDeleted: 3900, dirtyRemaining: 0, keptDays: 0 });
    expect(text).toBe("rebuilt every day in America/New_York (the rollups were in UTC): 91 days, 91 changed\n  rollup rows: 4000 new, 0 updated, 3900 removed\n");
    const kept = formatSummaryReport({ timezone: "UTC", mode: "rebuild", full: true, previousTimezone: null, days: 3, daysChanged: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0, dirtyRemaining: 0, keptDays: 40 });
    expect(kept).toContain("  40 days kept as built: their request logs are no longer archived\n");
  });
});
