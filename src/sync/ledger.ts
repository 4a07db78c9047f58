import { createHash } from "node:crypto";
import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import { upsertRequests, type UpsertResult } from "../archive/request-store.js";
import type { RequestRow } from "../archive/request-row.js";
import type { LedgerEntry } from "./planner.js";

export interface RejectedInput {
  raw: unknown;
  reason: string;
}

export interface PageCommit {
  projectId: string;
  windowStart: Date;
  windowEnd: Date;
  parts: number;
  rows: RequestRow[];
  rejected: RejectedInput[];
  /** First page of this read of the window: the counters start again. */
  firstPage: boolean;
  /** Last page of the window's last part: the window is proven read to its end. */
  lastPage: boolean;
  timezone: string;
  now: Date;
  /**
   * The window may be archived already (planned for any reason but backfill: a rescan, pending
   * rows, a flagged or explicit window): rows whose bytes are the archived ones are recognized
   * first, without sending them (request-store.ts).
   */
  expectArchived: boolean;
  /**
   * A span page (adjacent windows read as one listing): each window's own ledger row, with the
   * page's records that fall in it. Absent for a page of a single window.
   */
  windows?: Array<{ start: Date; end: Date; records: number }>;
}

/**
 * One page's rows, its rejected items and the ledger's progress, in one transaction. The rows go
 * last: their statement marks the page's days dirty, and the row locks that takes (shared with
 * every concurrent page of the same day) are then held only until the commit.
 */
export async function commitPage(db: Kysely<Database>, page: PageCommit): Promise<UpsertResult> {
  return db.transaction().execute(async (trx) => {
    // The archiver's own write: the guard triggers on requests/request_versions let it through (migrations/0003).
    await sql`select set_config('deepgram_archive.writer', 'archiver', true)`.execute(trx);
    if (page.rejected.length > 0) await storeRejected(trx, page);
    await recordProgress(trx, page);
    return upsertRequests(trx, { projectId: page.projectId, rows: page.rows, timezone: page.timezone, now: page.now, expectArchived: page.expectArchived });
  });
}

/**
 * The page's progress on its window's ledger row, or on each window's row for a span page (all
 * with `parts`, which is 1 for a span), in one statement.
 */
async function recordProgress(trx: Transaction<Database>, p: PageCommit): Promise<void> {
  const windows = p.windows ?? [{ start: p.windowStart, end: p.windowEnd, records: p.rows.length }];
  const rows = JSON.stringify(windows.map((w) => ({ s: w.start.toISOString(), e: w.end.toISOString(), n: w.records })));
  // A complete window read again (a rescan) that stops early stays complete: its records are
  // archived. Not so a wider window over it (ARCHIVER_WINDOW grown): the row would then claim a
  // range this read has not finished.
  const staysComplete = sql`(w.state = 'complete' and excluded.window_end <= w.window_end)`;
  await sql`
    insert into deepgram_archive.sync_windows as w
      (project_id, window_start, window_end, state, parts, pages, records, fetch_count,
       pages_fetched_total, first_fetched_at, last_fetched_at, completed_at)
    select ${p.projectId}, x.s, x.e, ${p.lastPage ? "complete" : "in_progress"}, ${p.parts}::int, 1, x.n, 1, 1,
       ${p.now}::timestamptz, ${p.now}::timestamptz, ${p.lastPage ? p.now : null}::timestamptz
    from jsonb_to_recordset(${rows}::jsonb) as x(s timestamptz, e timestamptz, n integer)
    on conflict (project_id, window_start) do update set
      window_end = excluded.window_end,
      state = case when ${p.lastPage}::boolean or ${staysComplete} then 'complete' else 'in_progress' end,
      parts = excluded.parts,
      pages = case when ${p.firstPage}::boolean then 1 else w.pages + 1 end,
      records = case when ${p.firstPage}::boolean then excluded.records else w.records + excluded.records end,
      fetch_count = w.fetch_count + case when ${p.firstPage}::boolean then 1 else 0 end,
      pages_fetched_total = w.pages_fetched_total + 1,
      first_fetched_at = coalesce(w.first_fetched_at, excluded.first_fetched_at),
      last_fetched_at = excluded.last_fetched_at,
      completed_at = case when ${p.lastPage}::boolean then excluded.last_fetched_at when ${staysComplete} then w.completed_at end,
      last_error = null`.execute(trx);
}

async function storeRejected(trx: Transaction<Database>, p: PageCommit): Promise<void> {
  const rows = p.rejected.map((r) => {
    const json = JSON.stringify(r.raw ?? null);
    return { raw_hash: createHash("sha256").update(json).digest("hex"), raw: r.raw ?? null, reason: r.reason };
  });
  await sql`
    insert into deepgram_archive.rejected_items as r (project_id, raw_hash, raw, reason, window_start, first_seen_at, last_seen_at)
    select distinct on (x.raw_hash) ${p.projectId}, x.raw_hash, x.raw, x.reason, ${p.windowStart}::timestamptz, ${p.now}::timestamptz, ${p.now}::timestamptz
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(raw_hash text, raw jsonb, reason text)
    on conflict (project_id, raw_hash) do update set last_seen_at = excluded.last_seen_at, seen_count = r.seen_count + 1`.execute(trx);
}

/**
 * A failed read of a window is remembered on its ledger row (the window stays incomplete). An existing
 * row keeps its parts: a split this read committed is not undone, so the next pass starts from it.
 */
export async function recordWindowError(db: Kysely<Database>, w: { projectId: string; start: Date; end: Date; parts: number; error: string; now: Date }): Promise<void> {
  await sql`
    insert into deepgram_archive.sync_windows as s (project_id, window_start, window_end, state, parts, last_error, last_fetched_at)
    values (${w.projectId}, ${w.start}, ${w.end}, 'in_progress', ${w.parts}, ${w.error}, ${w.now})
    on conflict (project_id, window_start) do update set last_error = excluded.last_error`.execute(db);
}

export async function loadLedger(db: Kysely<Database>, projectId: string, from: Date): Promise<LedgerEntry[]> {
  const rows = await db
    .selectFrom("deepgram_archive.sync_windows")
    .select(["window_start", "window_end", "state", "parts"])
    .where("project_id", "=", projectId)
    .where("window_end", ">", from)
    .orderBy("window_start")
    .execute();
  return rows.map((r) => ({ start: r.window_start.getTime(), end: r.window_end.getTime(), state: r.state, parts: r.parts }));
}

/** Starts of windows holding rows that are still pending, so they are read again while Deepgram lists them. */
export async function pendingWindowStarts(db: Kysely<Database>, projectId: string, from: Date, windowMs: number): Promise<Set<number>> {
  const rows = await sql<{ created: Date }>`
    select created from deepgram_archive.requests
    where project_id = ${projectId} and status = 'pending' and created >= ${from}`.execute(db);
  return new Set(rows.rows.map((r) => Math.floor(r.created.getTime() / windowMs) * windowMs));
}

/** Records the archive's start on a project's first pass; returns it, the planning watermark and when the project was first seen. */
export async function ensureProject(
  db: Kysely<Database>,
  p: { projectId: string; name: string | null; raw: unknown; archiveStart: Date; now: Date },
): Promise<{ archiveStart: Date; accountedUntil: Date | null; firstSeenAt: Date }> {
  const res = await sql<{ archive_start: Date; accounted_until: Date | null; first_seen_at: Date }>`
    insert into deepgram_archive.projects as p (project_id, name, archive_start, first_seen_at, last_seen_at, raw)
    values (${p.projectId}, ${p.name}, ${p.archiveStart}, ${p.now}, ${p.now}, ${p.raw === null ? null : JSON.stringify(p.raw)}::jsonb)
    on conflict (project_id) do update set
      name = coalesce(excluded.name, p.name),
      raw = coalesce(excluded.raw, p.raw),
      last_seen_at = excluded.last_seen_at,
      archive_start = coalesce(p.archive_start, excluded.archive_start)
    returning archive_start, accounted_until, first_seen_at`.execute(db);
  return { archiveStart: res.rows[0]!.archive_start, accountedUntil: res.rows[0]!.accounted_until, firstSeenAt: res.rows[0]!.first_seen_at };
}

/** Moves the planning watermark forward (never back) once the windows before it are accounted for. */
export async function advanceAccountedUntil(db: Kysely<Database>, projectId: string, until: Date): Promise<void> {
  await sql`
    update deepgram_archive.projects set accounted_until = greatest(coalesce(accounted_until, ${until}), ${until})
    where project_id = ${projectId}`.execute(db);
}

/**
 * What fell off the horizon unread: the windows, marked lost so they are reported once, and the
 * gap rows. A gap that starts inside or at the end of a recorded one extends it (the part of a
 * window the horizon reached, then more of it on a later pass), so rows never overlap.
 */
export async function recordGaps(
  db: Kysely<Database>,
  g: { projectId: string; lost: Array<{ start: number; end: number }>; gaps: Array<{ start: number; end: number }>; now: Date },
): Promise<void> {
  // Every lost window lies in a gap, so no gap means nothing to record.
  if (g.gaps.length === 0) return;
  await db.transaction().execute(async (trx) => {
    const lost = JSON.stringify(g.lost.map((w) => ({ s: new Date(w.start).toISOString(), e: new Date(w.end).toISOString() })));
    await sql`
      insert into deepgram_archive.sync_windows as w (project_id, window_start, window_end, state)
      select ${g.projectId}, x.s, x.e, 'lost' from jsonb_to_recordset(${lost}::jsonb) as x(s timestamptz, e timestamptz)
      on conflict (project_id, window_start) do update set state = 'lost'`.execute(trx);
    for (const gap of g.gaps) {
      const [start, end] = [new Date(gap.start), new Date(gap.end)];
      await sql`
        with touching as (
          update deepgram_archive.sync_gaps s set gap_end = greatest(s.gap_end, ${end})
          where s.project_id = ${g.projectId} and s.gap_start <= ${start} and s.gap_end >= ${start}
          returning 1)
        insert into deepgram_archive.sync_gaps (project_id, gap_start, gap_end, detected_at, reason)
        select ${g.projectId}, ${start}, ${end}, ${g.now}, 'fell off the 90-day horizon before it was archived'
        where not exists (select 1 from touching)
        on conflict (project_id, gap_start) do update set gap_end = greatest(sync_gaps.gap_end, excluded.gap_end)`.execute(trx);
    }
  });
}
