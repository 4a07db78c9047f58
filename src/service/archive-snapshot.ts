import { sql } from "kysely";
import { DateTime } from "luxon";
import type { ArchiveDatabase } from "../db/connection.js";
import type { Clock } from "../clock.js";
import type { SyncSettings } from "../sync/engine.js";
import { getStatus, type ProjectStatus } from "../commands/status.js";

/** Days shown in the status page's chart. */
export const CHART_DAYS = 30;
/**
 * Passes read at a time, newest first, for each project's last success and last attempt (sync_runs
 * grows by one row per pass and is never pruned). Usually the first batch answers for every project;
 * a project without a success in it (failing for a while, no longer archived, never succeeded yet) is
 * looked for further back, in batches twice as large each time, until found or the table ends.
 */
const RECENT_RUNS = 2000;

export interface DayFigures {
  /** YYYY-MM-DD in ARCHIVER_TIMEZONE. */
  day: string;
  requests: number;
  hours: number;
}

/** Days by reconciliation status: ok, mismatch, and partial or without vendor data. */
export interface ReconciliationFigures {
  okDays: number;
  mismatchDays: number;
  otherDays: number;
  /** Up to five mismatched days, newest first (YYYY-MM-DD, UTC). */
  latestMismatches: string[];
}

export interface ProjectSnapshot extends ProjectStatus {
  /** The last pass, by any replica, in which this project was archived without error. */
  lastSuccessAt: string | null;
  /** The last pass, by any replica, that worked on this project (skips by a busy replica ignored). */
  lastAttempt: { runId: string; outcome: string; finishedAt: string | null; error: string | null } | null;
  /** null when reconciliation has not been built into this database yet. */
  reconciliation: ReconciliationFigures | null;
  daily: DayFigures[];
}

/** What the database says about the archive, for metrics, alerts and the status page. */
export interface ArchiveSnapshot {
  generatedAt: string;
  projects: ProjectSnapshot[];
  dirtyDays: number;
  /** Where the chart's figures come from: the summarizer's rollups when present, else the raw rows. */
  chartSource: "daily_usage_totals" | "requests";
}

export interface SnapshotSettings extends Pick<SyncSettings, "windowMs" | "settleMs" | "rescanMs" | "timezone"> {}

export async function loadArchiveSnapshot(database: ArchiveDatabase, clock: Clock, settings: SnapshotSettings): Promise<ArchiveSnapshot> {
  const db = database.db;
  const status = await getStatus(database, clock, settings);
  const byProject = await loadPasses(database, status.projects.map((p) => p.projectId));
  const dirty = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.dirty_days`.execute(db);
  const reconciliation = await loadReconciliation(database);
  const { source, daily } = await loadDaily(database, clock, settings.timezone);

  return {
    generatedAt: status.generatedAt,
    dirtyDays: dirty.rows[0]!.n,
    chartSource: source,
    projects: status.projects.map((p): ProjectSnapshot => {
      const pass = byProject.get(p.projectId);
      return {
        ...p,
        lastSuccessAt: pass?.lastSuccess?.toISOString() ?? null,
        lastAttempt: pass?.lastAttempt ?? null,
        reconciliation: reconciliation === null ? null : (reconciliation.get(p.projectId) ?? { okDays: 0, mismatchDays: 0, otherDays: 0, latestMismatches: [] }),
        daily: daily(p.projectId),
      };
    }),
  };
}

interface ProjectPasses {
  lastSuccess: Date | null;
  lastAttempt: ProjectSnapshot["lastAttempt"];
}

interface PassBatchRow {
  /** Passes in this batch, and the oldest one's run_id (the next batch reads below it). */
  runs: number;
  lowest: string | null;
  project_id: string | null;
  last_success: Date | null;
  run_id: string | null;
  outcome: string | null;
  finished_at: Date | null;
  error: string | null;
}

/**
 * Each project's last success (latest finish of a pass whose details list the project as succeeded)
 * and last attempt (newest pass, by run_id, that did not skip it), however many passes came since.
 * Outcomes are per project inside sync_runs.details (src/sync/run-log.ts): a pass that is partial
 * overall may have succeeded for some of its projects. No index covers those details (sync_runs has
 * only its primary key), so the newest passes are read first through that key, and older ones only
 * while some project is still without a success: a healthy archive reads RECENT_RUNS rows, one whose
 * project stopped succeeding reads back to that project's last success.
 */
async function loadPasses(database: ArchiveDatabase, projectIds: string[]): Promise<Map<string, ProjectPasses>> {
  const found = new Map<string, ProjectPasses>(projectIds.map((id) => [id, { lastSuccess: null, lastAttempt: null }]));
  let open = projectIds;
  let below: string | null = null;
  for (let limit = RECENT_RUNS; open.length > 0; limit *= 2) {
    const batch = await sql<PassBatchRow>`
      with per_run as (
        select r.run_id, r.finished_at, e->>'projectId' as project_id, e->>'outcome' as outcome, e->>'error' as error
        from (
          select run_id, finished_at, details from deepgram_archive.sync_runs
          where finished_at is not null ${below === null ? sql`` : sql`and run_id < ${below}::bigint`}
          order by run_id desc limit ${limit}
        ) r
        left join lateral (
          select e from jsonb_array_elements(coalesce(r.details->'projects', '[]'::jsonb)) e where e->>'projectId' in (${sql.join(open)})
        ) m on true
      ), per_project as (
        select project_id, max(finished_at) filter (where outcome = 'succeeded') as last_success, max(run_id) filter (where outcome <> 'skipped') as attempt
        from per_run where project_id is not null group by project_id
      )
      select b.runs, b.lowest, s.project_id, s.last_success, a.run_id::text as run_id, a.outcome, a.finished_at, a.error
      from (select count(distinct run_id)::int as runs, min(run_id)::text as lowest from per_run) b
      left join per_project s on true
      left join per_run a on a.project_id = s.project_id and a.run_id = s.attempt`.execute(database.db);
    for (const r of batch.rows) {
      const pass = r.project_id === null ? undefined : found.get(r.project_id);
      if (!pass) continue;
      // A project is looked for until its success is found, so at most one batch gives it one.
      pass.lastSuccess ??= r.last_success;
      // Batches go from newer to older passes: the first attempt found is the latest.
      if (!pass.lastAttempt && r.run_id) pass.lastAttempt = { runId: r.run_id, outcome: r.outcome!, finishedAt: r.finished_at?.toISOString() ?? null, error: r.error };
    }
    const { runs, lowest }: PassBatchRow = batch.rows[0]!;
    if (runs < limit || lowest === null) break;
    below = lowest;
    open = open.filter((id) => found.get(id)!.lastSuccess === null);
  }
  return found;
}

async function hasColumns(database: ArchiveDatabase, relation: string, columns: string[]): Promise<boolean> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from information_schema.columns
    where table_schema = 'deepgram_archive' and table_name = ${relation} and column_name in (${sql.join(columns)})`.execute(database.db);
  return r.rows[0]!.n === columns.length;
}

/**
 * Reconciliation results per project, read from the `reconciliation` table when the database
 * has one with (project_id, day, status); null when it does not (older schema).
 */
async function loadReconciliation(database: ArchiveDatabase): Promise<Map<string, ReconciliationFigures> | null> {
  if (!(await hasColumns(database, "reconciliation", ["project_id", "day", "status"]))) return null;
  const r = await sql<{ project_id: string; ok: number; mismatches: number; other: number; latest: string[] | null }>`
    select project_id, count(*) filter (where status = 'ok')::int as ok, count(*) filter (where status = 'mismatch')::int as mismatches,
      count(*) filter (where status not in ('ok', 'mismatch'))::int as other,
      (array_agg(to_char(day, 'YYYY-MM-DD') order by day desc) filter (where status = 'mismatch'))[1:5] as latest
    from deepgram_archive.reconciliation group by project_id`.execute(database.db);
  return new Map(r.rows.map((x) => [x.project_id, { okDays: x.ok, mismatchDays: x.mismatches, otherDays: x.other, latestMismatches: x.latest ?? [] }]));
}

/** Requests and hours per day for the last CHART_DAYS days in the archive's zone, zero-filled. */
async function loadDaily(database: ArchiveDatabase, clock: Clock, timezone: string): Promise<{ source: ArchiveSnapshot["chartSource"]; daily: (projectId: string) => DayFigures[] }> {
  const today = DateTime.fromJSDate(clock.now(), { zone: timezone }).startOf("day");
  const first = today.minus({ days: CHART_DAYS - 1 });
  const days = Array.from({ length: CHART_DAYS }, (_, i) => first.plus({ days: i }).toISODate()!);
  const useRollups = await hasColumns(database, "daily_usage_totals", ["project_id", "day", "requests", "hours"]);
  const rows = useRollups
    ? await sql<{ project_id: string; day: string; requests: number; hours: number }>`
        select project_id, to_char(day, 'YYYY-MM-DD') as day, sum(requests)::float8 as requests, sum(hours)::float8 as hours
        from deepgram_archive.daily_usage_totals where day >= ${days[0]}::date
        group by 1, 2`.execute(database.db)
    : await sql<{ project_id: string; day: string; requests: number; hours: number }>`
        select project_id, to_char(created at time zone ${timezone}, 'YYYY-MM-DD') as day,
          count(*)::float8 as requests, coalesce(sum(duration_seconds), 0)::float8 / 3600 as hours
        from deepgram_archive.requests where created >= ${first.toJSDate()}
        group by 1, 2`.execute(database.db);
  const byKey = new Map(rows.rows.map((r) => [`${r.project_id}|${r.day}`, r]));
  return {
    source: useRollups ? "daily_usage_totals" : "requests",
    daily: (projectId) =>
      days.map((day) => {
        const r = byKey.get(`${projectId}|${day}`);
        return { day, requests: r?.requests ?? 0, hours: r?.hours ?? 0 };
      }),
  };
}
