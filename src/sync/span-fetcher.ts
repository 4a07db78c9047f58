import { CommitLane } from "./commit-lane.js";
import type { PageCommit } from "./ledger.js";
import { mayBeArchived, type PlannedWindow } from "./planner.js";
import { ListingMovedError, MAX_PAGES_PER_RANGE, MAX_REREADS, PAGE_LIMIT, fetchWindow, listPage, startPageCommit, type WindowFetchDeps, type WindowResult } from "./window-fetcher.js";

/**
 * Sparse windows are read as spans: adjacent windows of one project listed with a single
 * start/end, each still getting its own ledger row, completed in the transaction of the span's
 * last page. A 1h window of a project with a few thousand requests a day holds one short page, and
 * then the HTTP round trip and the transaction, not the rows, are the cost of archiving it.
 */

/** A span never covers more than a day: a listing that moves while paging costs at most a day's re-read. */
export const SPAN_MAX_MS = 86_400_000;
/** A span is sized to hold about this many records at the rate seen so far, so it is usually one page. */
const SPAN_TARGET_RECORDS = Math.floor(PAGE_LIMIT * 0.8);

export interface SpanSizer {
  /** Windows a span of this project may cover now (1 until a rate is known). */
  size(projectId: string): number;
  /** Records seen in `windows` windows of this project. */
  observe(projectId: string, records: number, windows: number): void;
}

/** Learns each project's records per window during a pass, weighting recent reads most. */
export function createSpanSizer(windowMs: number): SpanSizer {
  const maxWindows = Math.max(1, Math.floor(SPAN_MAX_MS / windowMs));
  const seen = new Map<string, { records: number; windows: number }>();
  return {
    size(projectId) {
      const s = seen.get(projectId);
      if (!s || s.windows === 0) return 1;
      const perWindow = s.records / s.windows;
      return Math.max(1, Math.min(maxWindows, Math.floor(SPAN_TARGET_RECORDS / Math.max(perWindow, 1))));
    },
    observe(projectId, records, windows) {
      const s = seen.get(projectId) ?? { records: 0, windows: 0 };
      seen.set(projectId, { records: s.records / 2 + records, windows: s.windows / 2 + windows });
    },
  };
}

/**
 * Whether `next` can extend a span that ends with `last`: adjacent, never split, same width, and
 * both planned for a backfill or a rescan. Windows reconciliation flagged, or holding pending
 * records, are few and each read for its own reason, so they are read alone.
 */
export function canExtendSpan(last: PlannedWindow, next: PlannedWindow): boolean {
  return (
    SPANNED_REASONS.has(last.reason) &&
    next.reason === last.reason &&
    next.start === last.end &&
    last.parts === 1 &&
    next.parts === 1 &&
    next.end - next.start === last.end - last.start
  );
}

const SPANNED_REASONS: ReadonlySet<PlannedWindow["reason"]> = new Set(["backfill", "explicit", "rescan"]);

export interface SpanResult extends WindowResult {
  /** Records archived per window of the span, in order. */
  windowRecords: number[];
}

type Attempt = { kind: "done" } | { kind: "moved"; why: string } | { kind: "alone"; why: string };

/**
 * Reads adjacent windows as one listing. A span deeper than offset paging allows is not split:
 * its windows are read one by one instead (what it committed so far stays; upserts are idempotent),
 * as they are when a record's time cannot be placed in one of them here.
 */
export async function fetchSpan(deps: WindowFetchDeps, projectId: string, windows: PlannedWindow[]): Promise<SpanResult> {
  const log = deps.logger.child({ projectId, span: new Date(windows[0]!.start).toISOString(), windows: windows.length });
  const total: SpanResult = { pages: 0, records: 0, inserted: 0, updated: 0, unchanged: 0, rejected: 0, rereads: 0, parts: 1, windowRecords: windows.map(() => 0) };
  const lane = new CommitLane(deps.previous);
  for (;;) {
    const attempt = await lane.finish(readSpanOnce(deps, projectId, windows, total, lane));
    if (attempt.kind === "done") return total;
    if (attempt.kind === "alone") {
      log.info({ why: attempt.why }, "reading the span's windows one by one");
      total.windowRecords.fill(0);
      total.records = 0;
      for (let i = 0; i < windows.length; i++) {
        // Only the last window's last page releases the worker: until then there are more requests to make.
        const r = await fetchWindow({ ...deps, release: i === windows.length - 1 ? deps.release : undefined }, projectId, windows[i]!);
        for (const k of ["pages", "records", "inserted", "updated", "unchanged", "rejected", "rereads"] as const) total[k] += r[k];
        total.windowRecords[i] = r.records;
      }
      return total;
    }
    total.rereads++;
    if (total.rereads > MAX_REREADS) {
      throw new ListingMovedError(`the listing kept moving while paging (${attempt.why}); read ${total.rereads} times without a stable result`);
    }
    log.info({ why: attempt.why, reread: total.rereads }, "listing moved while paging; reading the span again");
  }
}

/** One read of the span as a single listing; page commits overlap the next request as in readOnce (window-fetcher.ts). */
async function readSpanOnce(deps: WindowFetchDeps, projectId: string, windows: PlannedWindow[], total: SpanResult, lane: CommitLane): Promise<Attempt> {
  const start = windows[0]!.start;
  const end = windows[windows.length - 1]!.end;
  const width = windows[0]!.end - start;
  const seen = new Set<string>();
  total.windowRecords.fill(0);
  total.records = 0;
  for (let page = 0; ; page++) {
    if (page >= MAX_PAGES_PER_RANGE) return { kind: "alone", why: "too deep for one listing" };
    const { read, more } = await listPage(deps, projectId, { start: new Date(start), end: new Date(end), page, limit: PAGE_LIMIT }, { from: start, to: end, end }, seen, true);
    if (read.kind === "unplaced") return { kind: "alone", why: read.why };
    if (read.kind === "moved") return read;
    const { rows, rejected } = read;
    const counts = windows.map(() => 0);
    // A record on an inner edge belongs to the later window, as when the windows are read alone.
    for (const t of read.times) counts[Math.min(windows.length - 1, Math.floor((t - start) / width))]!++;
    const lastPage = !more;
    const commit: Omit<PageCommit, "now"> = {
      projectId,
      windowStart: new Date(start),
      windowEnd: new Date(end),
      parts: 1,
      rows,
      rejected,
      firstPage: page === 0,
      lastPage,
      timezone: deps.timezone,
      expectArchived: mayBeArchived(windows[0]!),
      windows: windows.map((w, i) => ({ start: new Date(w.start), end: new Date(w.end), records: counts[i]! })),
    };
    await startPageCommit(deps, lane, total, read, commit, lastPage, () => counts.forEach((c, i) => (total.windowRecords[i]! += c)));
    if (lastPage) return { kind: "done" };
  }
}
