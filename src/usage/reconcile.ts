import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { HORIZON_MS } from "../config.js";
import { ConfigError } from "../errors.js";
import { alignDown } from "../sync/planner.js";

export type ReconcileStatus = "ok" | "mismatch" | "partial" | "no_vendor_data";
export const RECONCILE_STATUSES: readonly ReconcileStatus[] = ["mismatch", "no_vendor_data", "partial", "ok"];

/** One (project, UTC day): the shape `reconcile --json` prints. */
export interface ReconcileRow {
  project_id: string;
  day: string;
  status: ReconcileStatus;
  archived_requests: number;
  vendor_requests: number | null;
  archived_hours: number;
  vendor_hours: number | null;
}

export interface ReconcileOptions {
  now: Date;
  /** First and last UTC day (YYYY-MM-DD, inclusive); default every day with usage or requests. */
  since?: string;
  until?: string;
  projectIds?: readonly string[];
  /**
   * After a pass: check only days that can have changed since they were last checked (not yet
   * ok, new, within `recentDays` of today, vendor figures changed, or near a dirty day).
   */
  changedOnly?: { recentDays: number };
}

export interface ReconcileResult {
  rows: ReconcileRow[];
  counts: Record<ReconcileStatus, number>;
  /** Mismatches still inside the horizon whose windows the next pass fetches once more. */
  refetchDue: ReconcileRow[];
  /** Mismatches that remain after that refetch, or are too old to refetch: they stay flagged. */
  persistent: ReconcileRow[];
}

/** Hours differing by more than this share of Deepgram's figure are a mismatch. */
export const HOURS_TOLERANCE = 0.001;
const DAY_MS = 86_400_000;

/**
 * Compares, per project and UTC day, the archived requests and hours (from `requests`, whatever
 * ARCHIVER_TIMEZONE is) with Deepgram's /usage, and records the verdict in `reconciliation`:
 * - no_vendor_data: Deepgram's usage for the day is not archived;
 * - partial: complete ledger windows do not cover the whole day (before the archive began, lost
 *   at the 90-day edge, or not settled yet), so the archive is not expected to match;
 * - mismatch: request counts differ, or hours by more than 0.1%;
 * - ok otherwise.
 * A new mismatch is flagged (flagged_at) for one more fetch of the day's windows; the verdict of a
 * day that stops being a mismatch clears the flag.
 */
export async function reconcile(db: Kysely<Database>, options: ReconcileOptions): Promise<ReconcileResult> {
  if (options.since && options.until && options.since > options.until) {
    throw new ConfigError([`--since (${options.since}) must not be after --until (${options.until}).`]);
  }
  const wanted = options.projectIds?.length ? [...options.projectIds] : null;
  const projects = await sql<{ project_id: string }>`
    select project_id from deepgram_archive.projects
    union select distinct project_id from deepgram_archive.vendor_daily_usage
    order by 1`.execute(db);
  const rows: ReconcileRow[] = [];
  const refetchCounts = new Map<string, number>();
  for (const { project_id } of projects.rows) {
    if (wanted && !wanted.includes(project_id)) continue;
    for (const r of await reconcileProject(db, project_id, options)) {
      rows.push(r.row);
      refetchCounts.set(`${r.row.project_id} ${r.row.day}`, r.refetchCount);
    }
  }
  const counts: Record<ReconcileStatus, number> = { ok: 0, mismatch: 0, partial: 0, no_vendor_data: 0 };
  for (const r of rows) counts[r.status]++;
  const horizon = options.now.getTime() - HORIZON_MS;
  const mismatches = rows.filter((r) => r.status === "mismatch");
  const refetchable = (r: ReconcileRow) => Date.parse(`${r.day}T00:00:00Z`) + DAY_MS > horizon && refetchCounts.get(`${r.project_id} ${r.day}`) === 0;
  return { rows, counts, refetchDue: mismatches.filter(refetchable), persistent: mismatches.filter((r) => !refetchable(r)) };
}

async function reconcileProject(db: Kysely<Database>, projectId: string, o: ReconcileOptions): Promise<Array<{ row: ReconcileRow; refetchCount: number }>> {
  const changedOnly = o.changedOnly !== undefined;
  const recentFrom = new Date(Math.floor(o.now.getTime() / DAY_MS) * DAY_MS - (o.changedOnly?.recentDays ?? 0) * DAY_MS).toISOString().slice(0, 10);
  const res = await sql<{
    day: string;
    status: ReconcileStatus;
    archived_requests: string;
    vendor_requests: string | null;
    archived_hours: number;
    vendor_hours: number | null;
    refetch_count: number;
  }>`
    with bounds as (
      select
        greatest(least(
          (select min(day) from deepgram_archive.vendor_daily_usage where project_id = ${projectId}),
          ((select min(created) from deepgram_archive.requests where project_id = ${projectId}) at time zone 'UTC')::date
        ), ${o.since ?? null}::date) as lo,
        least(greatest(
          (select max(day) from deepgram_archive.vendor_daily_usage where project_id = ${projectId}),
          ((select max(created) from deepgram_archive.requests where project_id = ${projectId}) at time zone 'UTC')::date
        ), ${o.until ?? null}::date) as hi
    ),
    days as (
      select b.lo + i as day from bounds b cross join generate_series(0, b.hi - b.lo) as i
      where b.lo is not null and b.hi >= b.lo
    ),
    candidates as (
      select d.day from days d
      left join deepgram_archive.reconciliation rc on rc.project_id = ${projectId} and rc.day = d.day
      left join deepgram_archive.vendor_daily_usage v on v.project_id = ${projectId} and v.day = d.day
      where not ${changedOnly}::boolean
        or rc.day is null or rc.status <> 'ok' or d.day >= ${recentFrom}::date
        or v.changed_at > rc.checked_at
        -- a dirty local day (any zone) lies within a UTC day of it
        or exists (select 1 from deepgram_archive.dirty_days dd where dd.project_id = ${projectId} and d.day between dd.day - 1 and dd.day + 1)
    ),
    -- What complete windows prove read: a window first read when part of it was already past
    -- Deepgram's horizon (the first window of a project, or after a long stop) covers only the rest.
    windows as (
      select greatest(w.window_start, coalesce(w.first_fetched_at, w.window_start) - make_interval(secs => ${HORIZON_MS / 1000})) as lo, w.window_end as hi
      from deepgram_archive.sync_windows w
      where w.project_id = ${projectId} and w.state = 'complete'
        and w.window_end > ((select min(day) from candidates)::timestamp at time zone 'UTC')
        and w.window_start < (((select max(day) from candidates) + 1)::timestamp at time zone 'UTC')
    ),
    coverage as (
      select range_agg(tstzrange(lo, hi)) as m from windows where lo < hi
    ),
    figures as (
      select c.day, a.n as archived_requests, (a.secs / 3600)::float8 as archived_hours,
        v.requests as vendor_requests, v.hours as vendor_hours, v.day is not null as has_vendor,
        coalesce((select m from coverage) @> tstzrange(c.day::timestamp at time zone 'UTC', (c.day + 1)::timestamp at time zone 'UTC'), false) as covered
      from candidates c
      left join deepgram_archive.vendor_daily_usage v on v.project_id = ${projectId} and v.day = c.day
      cross join lateral (
        select count(*)::bigint as n, coalesce(sum(r.duration_seconds::numeric), 0) as secs
        from deepgram_archive.requests r
        where r.project_id = ${projectId}
          and r.created >= (c.day::timestamp at time zone 'UTC') and r.created < ((c.day + 1)::timestamp at time zone 'UTC')
      ) a
    ),
    judged as (
      select f.*,
        case
          when not f.has_vendor then 'no_vendor_data'
          when not f.covered then 'partial'
          when f.archived_requests <> f.vendor_requests
            or abs(f.archived_hours - f.vendor_hours) > ${HOURS_TOLERANCE} * abs(f.vendor_hours) then 'mismatch'
          else 'ok'
        end as status
      from figures f
      where f.has_vendor or f.archived_requests > 0
    ),
    saved as (
      insert into deepgram_archive.reconciliation as rc
        (project_id, day, status, archived_requests, vendor_requests, archived_hours, vendor_hours, checked_at, flagged_at, refetch_count)
      select ${projectId}, j.day, j.status, j.archived_requests, j.vendor_requests, j.archived_hours, j.vendor_hours,
        ${o.now}::timestamptz, case when j.status = 'mismatch' then ${o.now}::timestamptz end, 0
      from judged j
      on conflict (project_id, day) do update set
        status = excluded.status,
        archived_requests = excluded.archived_requests, vendor_requests = excluded.vendor_requests,
        archived_hours = excluded.archived_hours, vendor_hours = excluded.vendor_hours,
        checked_at = excluded.checked_at,
        flagged_at = case when excluded.status = 'mismatch' then coalesce(rc.flagged_at, excluded.flagged_at) end,
        refetch_count = case when excluded.status = 'mismatch' then rc.refetch_count else 0 end
      returning rc.day, rc.status, rc.archived_requests, rc.vendor_requests, rc.archived_hours, rc.vendor_hours, rc.refetch_count
    )
    select day::text as day, status, archived_requests::text, vendor_requests::text, archived_hours, vendor_hours, refetch_count
    from saved order by day`.execute(db);
  return res.rows.map((r) => ({
    row: {
      project_id: projectId,
      day: r.day,
      status: r.status,
      archived_requests: Number(r.archived_requests),
      vendor_requests: r.vendor_requests === null ? null : Number(r.vendor_requests),
      archived_hours: r.archived_hours,
      vendor_hours: r.vendor_hours,
    },
    refetchCount: r.refetch_count,
  }));
}

/**
 * The days flagged by reconciliation that have not been fetched again yet and that Deepgram still
 * lists, each with the starts of the windows that cover it. Read only: a day counts as refetched
 * when its windows were fetched (`markRefetched`), so a pass that fails or stops first leaves it due.
 */
export async function flaggedDays(db: Kysely<Database>, projectId: string, o: { now: Date; windowMs: number }): Promise<Map<string, number[]>> {
  const horizon = new Date(o.now.getTime() - HORIZON_MS);
  const r = await sql<{ day: string }>`
    select day::text as day from deepgram_archive.reconciliation
    where project_id = ${projectId} and status = 'mismatch' and refetch_count = 0
      and ((day + 1)::timestamp at time zone 'UTC') > ${horizon}::timestamptz
    order by day`.execute(db);
  const days = new Map<string, number[]>();
  for (const { day } of r.rows) {
    const dayStart = Date.parse(`${day}T00:00:00Z`);
    const starts: number[] = [];
    for (let t = alignDown(dayStart, o.windowMs); t < dayStart + DAY_MS; t += o.windowMs) starts.push(t);
    days.set(day, starts);
  }
  return days;
}

/** Counts flagged days as fetched again, so a mismatch that persists is then only reported. */
export async function markRefetched(db: Kysely<Database>, projectId: string, days: readonly string[]): Promise<void> {
  if (days.length === 0) return;
  await sql`
    update deepgram_archive.reconciliation set refetch_count = refetch_count + 1
    where project_id = ${projectId} and status = 'mismatch' and refetch_count = 0
      and day in (select jsonb_array_elements_text(${JSON.stringify(days)}::jsonb)::date)`.execute(db);
}

/** Per status, how many days of a project the last reconciliation put there, and the mismatched days. */
export interface ReconciliationStatus {
  ok: number;
  mismatch: number;
  partial: number;
  noVendorData: number;
  /** Mismatched days, newest first (at most 10), with whether their refetch is still to come. */
  mismatchDays: Array<{ day: string; refetched: boolean }>;
  lastCheckedAt: string | null;
}

export async function readReconciliationStatus(db: Kysely<Database>, projectId: string): Promise<ReconciliationStatus> {
  const counts = await sql<{ status: ReconcileStatus; n: number; last: Date | null }>`
    select status, count(*)::int as n, max(checked_at) as last from deepgram_archive.reconciliation
    where project_id = ${projectId} group by status`.execute(db);
  const days = await sql<{ day: string; refetch_count: number }>`
    select day::text as day, refetch_count from deepgram_archive.reconciliation
    where project_id = ${projectId} and status = 'mismatch' order by day desc limit 10`.execute(db);
  const n = (s: ReconcileStatus) => counts.rows.find((r) => r.status === s)?.n ?? 0;
  const last = counts.rows.reduce<number | null>((m, r) => (r.last && (m === null || r.last.getTime() > m) ? r.last.getTime() : m), null);
  return {
    ok: n("ok"),
    mismatch: n("mismatch"),
    partial: n("partial"),
    noVendorData: n("no_vendor_data"),
    mismatchDays: days.rows.map((d) => ({ day: d.day, refetched: d.refetch_count > 0 })),
    lastCheckedAt: last === null ? null : new Date(last).toISOString(),
  };
}
