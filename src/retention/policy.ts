import { DateTime } from "luxon";
import type { Retention } from "../config.js";

export interface RetentionCutoff {
  /** Request logs created before this instant go (unless a legal hold covers them). */
  cutoff: Date;
  /** The policy asked for less than the rescan horizon; rows are kept until they leave it. */
  clampedToRescan: boolean;
}

/**
 * The first instant retention keeps: the start of the day, in `timezone`, that holds `now - policy`.
 * Rows of that whole day stay, so a row goes when it is at least the policy old and at most a day
 * older. Never later than the start of the day that holds `now - rescan`: a row deleted inside the
 * rescan horizon would only be fetched again by the next pass.
 */
export function retentionCutoff(now: Date, retention: Retention, timezone: string, rescanMs: number): RetentionCutoff | null {
  if (retention.kind === "forever") return null;
  const policy = DateTime.fromMillis(now.getTime() - retention.ms, { zone: timezone }).startOf("day");
  const rescan = DateTime.fromMillis(now.getTime() - rescanMs, { zone: timezone }).startOf("day");
  return policy <= rescan ? { cutoff: policy.toJSDate(), clampedToRescan: false } : { cutoff: rescan.toJSDate(), clampedToRescan: true };
}

/** The first local day (YYYY-MM-DD in `timezone`) whose rollups are kept, or null for forever. */
export function rollupCutoffDay(now: Date, retention: Retention, timezone: string): string | null {
  if (retention.kind === "forever") return null;
  return DateTime.fromMillis(now.getTime() - retention.ms, { zone: timezone }).toISODate();
}

/** "requests_2026_08" -> the month it holds, in UTC; null for the default partition or a foreign name. */
export function partitionMonth(name: string): { start: Date; end: Date } | null {
  const m = /^requests_(\d{4})_(\d{2})$/.exec(name);
  if (!m) return null;
  const start = DateTime.fromObject({ year: Number(m[1]), month: Number(m[2]), day: 1 }, { zone: "utc" });
  return { start: start.toJSDate(), end: start.plus({ months: 1 }).toJSDate() };
}
