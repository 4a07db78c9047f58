import { HORIZON_MS } from "../config.js";

/** What the ledger says about one window. */
export interface LedgerEntry {
  start: number;
  end: number;
  state: "in_progress" | "complete" | "lost";
  parts: number;
}

export type WindowReason = "backfill" | "rescan" | "pending" | "flagged" | "explicit";

export interface PlannedWindow {
  start: number;
  end: number;
  parts: number;
  reason: WindowReason;
}

/**
 * Whether a window's rows may be archived already: planned for any reason but backfill (a rescan,
 * pending rows, a flagged or explicit window). Its pages then look rows up by source hash first.
 */
export const mayBeArchived = (w: PlannedWindow): boolean => w.reason !== "backfill";

export interface Plan {
  windows: PlannedWindow[];
  /**
   * Ranges that fell off the horizon before they were archived: runs of windows, and the part
   * before the horizon of a window still unarchived that the horizon has reached (Deepgram may
   * have deleted its records there, though the window is still fetched), merged.
   */
  gaps: Array<{ start: number; end: number }>;
  /** Every grid window of those gaps, to be marked lost so they are reported once. */
  lost: Array<{ start: number; end: number }>;
  /** Closed grid windows from the archive's start to now - settle, complete or not. */
  closedWindows: number;
  completeWindows: number;
  /** Once the plan's gaps are recorded, every window before this is complete or lost. */
  accountedUntil: number;
}

export interface PlanInput {
  now: number;
  windowMs: number;
  settleMs: number;
  rescanMs: number;
  /** Start of this project's archive (first pass); windows before it were never promised. */
  archiveStart: number;
  /**
   * When the archiver first saw the project. Deepgram listed everything from 90 days before that,
   * so only what the horizon passed since can have been lost.
   */
  firstSeenAt: number;
  /** Windows before this are known complete or lost (the ledger need not be read before it). */
  accountedUntil?: number;
  ledger: LedgerEntry[];
  /** Window starts that hold rows still pending: fetched again while Deepgram still lists them. */
  pendingStarts?: ReadonlySet<number>;
  /** Window starts reconciliation asked to fetch once more. */
  flaggedStarts?: ReadonlySet<number>;
}

export const alignDown = (t: number, windowMs: number): number => Math.floor(t / windowMs) * windowMs;

/**
 * Turns the ledger into the list of windows to fetch, oldest first within each reason:
 * incomplete windows (closest to being lost first), then the rescan horizon, then windows with
 * pending rows, then windows reconciliation flagged. Pure: the caller reads and writes the ledger.
 */
export function planWindows(input: PlanInput): Plan {
  const { now, windowMs } = input;
  const horizon = now - HORIZON_MS;
  const lastEnd = alignDown(now - input.settleMs, windowMs);
  // Never start after the horizon: if the clock jumped forward and back, windows the watermark
  // passed may still be listed, and a window marked lost that Deepgram still lists is fetched.
  const first = alignDown(Math.max(input.archiveStart, Math.min(input.accountedUntil ?? -Infinity, horizon)), windowMs);
  const coverage = completeCoverage(input.ledger);
  const byStart = new Map(input.ledger.map((e) => [e.start, e]));

  const backfill: PlannedWindow[] = [];
  const rescan: PlannedWindow[] = [];
  const pending: PlannedWindow[] = [];
  const flagged: PlannedWindow[] = [];
  const lost: Array<{ start: number; end: number }> = [];
  const partial: Array<{ start: number; end: number }> = [];
  let closed = 0;
  let complete = 0;

  for (let start = first; start + windowMs <= lastEnd; start += windowMs) {
    const end = start + windowMs;
    const entry = byStart.get(start);
    const window = { start, end, parts: entry?.parts ?? 1 };
    closed++;
    const isComplete = coverage.covers(start, end);
    if (isComplete) complete++;
    if (end <= horizon) {
      // Deepgram no longer lists anything in it: archived or lost, nothing to fetch.
      if (!isComplete && entry?.state !== "lost") lost.push({ start, end });
      continue;
    }
    if (!isComplete) {
      const from = Math.max(start, input.firstSeenAt - HORIZON_MS);
      if (from < horizon && entry?.state !== "lost") partial.push({ start: from, end: horizon });
      backfill.push({ ...window, reason: "backfill" });
    } else if (end > now - input.rescanMs) rescan.push({ ...window, reason: "rescan" });
    else if (input.flaggedStarts?.has(start)) flagged.push({ ...window, reason: "flagged" });
    else if (input.pendingStarts?.has(start)) pending.push({ ...window, reason: "pending" });
  }
  return {
    windows: [...backfill, ...rescan, ...flagged, ...pending],
    gaps: mergeRanges([...lost, ...partial]),
    lost,
    closedWindows: closed,
    completeWindows: complete,
    accountedUntil: Math.max(first, alignDown(horizon, windowMs)),
  };
}

/** Grid windows of [since, until) that Deepgram still lists, for an explicit backfill. */
export function explicitWindows(input: { since: number; until: number; now: number; windowMs: number; settleMs: number; ledger: LedgerEntry[] }): PlannedWindow[] {
  const horizon = input.now - HORIZON_MS;
  const lastEnd = alignDown(input.now - input.settleMs, input.windowMs);
  const byStart = new Map(input.ledger.map((e) => [e.start, e]));
  const out: PlannedWindow[] = [];
  for (let start = alignDown(input.since, input.windowMs); start < input.until && start + input.windowMs <= lastEnd; start += input.windowMs) {
    const end = start + input.windowMs;
    if (end <= horizon) continue;
    out.push({ start, end, parts: byStart.get(start)?.parts ?? 1, reason: "explicit" });
  }
  return out;
}

function completeCoverage(ledger: LedgerEntry[]): { covers(start: number, end: number): boolean } {
  const merged = mergeRanges(ledger.filter((e) => e.state === "complete").map((e) => ({ start: e.start, end: e.end })));
  return {
    covers(start, end) {
      // Binary search for the last range starting at or before `start`.
      let lo = 0;
      let hi = merged.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (merged[mid]!.start <= start) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return found >= 0 && merged[found]!.end >= end;
    },
  };
}

export function mergeRanges(ranges: Array<{ start: number; end: number }>): Array<{ start: number; end: number }> {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: Array<{ start: number; end: number }> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}
