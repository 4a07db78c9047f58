import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Logger } from "../logger.js";
import { silentLogger } from "../logger.js";
import { ConfigError } from "../errors.js";
import { runPool } from "../sync/pool.js";
import { summarizeDay } from "./day-rollup.js";
import { claimSummaryZone, markRebuilt, readSummaryZone, resetSummaryZone, zoneMismatchError } from "./summary-zone.js";

export interface SummarizeOptions {
  /** ARCHIVER_TIMEZONE: the zone whose local days the rollups use. */
  timezone: string;
  now: Date;
  /** Recompute every day of the range (or, without a range, every day, in `timezone`) rather than only the dirty ones. */
  rebuild?: boolean;
  /** First and last local day (YYYY-MM-DD, inclusive). */
  since?: string;
  until?: string;
  /** Only these projects (default: all). */
  projectIds?: readonly string[];
  /** Days summarized at once, each in its own transaction (default 1): days are independent. */
  concurrency?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface SummaryReport {
  timezone: string;
  /** drain: the dirty days; rebuild: the days of a range or of everything. */
  mode: "drain" | "rebuild";
  /** A rebuild of everything: asked for, due after a zone change, or the first summarize. */
  full: boolean;
  /** The zone the rollups used before this rebuild, when it changed. */
  previousTimezone: string | null;
  days: number;
  /** Days whose rollup rows were written (the others were already right). */
  daysChanged: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsDeleted: number;
  /** Dirty marks left: days marked again while this ran, or outside the range. */
  dirtyRemaining: number;
  /**
   * A rebuild: days whose rollups were kept as built because their request logs are no longer
   * archived (they predate a project's oldest request), so they cannot be recomputed.
   */
  keptDays: number;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A `--since/--until` day as the summarizer and reconciliation take it, or a problem. */
export function checkDayOption(name: string, value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  const ok = DAY.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value);
  if (!ok) problems.push(`--${name} must be a calendar day (YYYY-MM-DD); got ${JSON.stringify(value)}.`);
  return ok ? value : undefined;
}

/** `--since` and `--until` of `summarize` and `reconcile`: the ones given, or a ConfigError naming every bad one. */
export function checkDayRange(opts: { since?: string | undefined; until?: string | undefined }): { since?: string; until?: string } {
  const problems: string[] = [];
  const since = checkDayOption("since", opts.since, problems);
  const until = checkDayOption("until", opts.until, problems);
  if (problems.length) throw new ConfigError(problems);
  return { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
}

/**
 * Builds the day rollups. By default it drains dirty_days; each day's rollups are replaced and its
 * mark cleared in one transaction, and a day whose rows did not change is not written at all, so
 * running it again changes no row. `rebuild` recomputes a range, or everything; rebuilding
 * everything is also how the rollups move to another ARCHIVER_TIMEZONE (any other run in a zone
 * other than the recorded one is refused with a ConfigError).
 */
export async function summarize(db: Kysely<Database>, options: SummarizeOptions): Promise<SummaryReport> {
  const log = (options.logger ?? silentLogger()).child({ component: "summarizer" });
  const { timezone, now } = options;
  const ranged = options.since !== undefined || options.until !== undefined;
  if (options.since && options.until && options.since > options.until) {
    throw new ConfigError([`--since (${options.since}) must not be after --until (${options.until}).`]);
  }

  let previousTimezone: string | null = null;
  let full: boolean;
  if (options.rebuild && !ranged) {
    const recorded = await readSummaryZone(db);
    if (recorded && recorded.timezone !== timezone) previousTimezone = recorded.timezone;
    await resetSummaryZone(db, timezone, now);
    full = true;
  } else {
    const recorded = await readSummaryZone(db);
    if (recorded && recorded.timezone !== timezone) {
      if (options.rebuild) {
        throw new ConfigError([
          `The rollups are in ${recorded.timezone} days and ARCHIVER_TIMEZONE is ${timezone}: a range cannot be rebuilt in another zone. ` +
            "Run `deepgram-archiver summarize --rebuild` without --since/--until to rebuild every day in the new zone.",
        ]);
      }
      throw zoneMismatchError(timezone, recorded.timezone);
    }
    const zone = await claimSummaryZone(db, timezone, now);
    full = zone.rebuiltAt === null;
  }

  const mode = full || options.rebuild ? "rebuild" : "drain";
  // A full rebuild covers every project and day whatever was asked: the zone is one for the whole archive.
  const rollupZone = previousTimezone ?? timezone;
  const chosen = full
    ? await allDays(db, timezone, rollupZone, {})
    : options.rebuild
      ? await allDays(db, timezone, rollupZone, options)
      : { days: await dirtyDays(db, options), kept: 0 };
  const days = chosen.days;

  const report: SummaryReport = { timezone, mode, full, previousTimezone, days: days.length, daysChanged: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0, dirtyRemaining: 0, keptDays: chosen.kept };
  if (full) log.info({ timezone, previousTimezone, days: days.length }, "rebuilding every day's rollups");
  // Each day is its own transaction and touches only its own rollup rows and dirty mark, so days
  // run side by side: a day is one backend's work, and a rebuild is otherwise bound to one core.
  let done = 0;
  await runPool(days, options.concurrency ?? 1, options.signal, async (d) => {
    const changes = await db.transaction().execute((trx) => summarizeDay(trx, d.projectId, d.day, timezone));
    if (changes.inserted + changes.updated + changes.deleted > 0) report.daysChanged++;
    report.rowsInserted += changes.inserted;
    report.rowsUpdated += changes.updated;
    report.rowsDeleted += changes.deleted;
    done++;
  });
  if (done < days.length) throw options.signal?.reason ?? new Error("aborted");
  if (full) {
    await markRebuilt(db, timezone, now);
    if (report.keptDays > 0) {
      log.warn(
        { keptDays: report.keptDays, previousTimezone },
        previousTimezone
          ? `rollups of days whose request logs are no longer archived were kept in ${previousTimezone} days: they cannot be rebuilt`
          : "rollups of days whose request logs are no longer archived were kept as built",
      );
    }
  }
  report.dirtyRemaining = (
    await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.dirty_days`.execute(db)
  ).rows[0]!.n;
  log.debug({ ...report }, "rollups summarized");
  return report;
}

interface DayRef {
  projectId: string;
  day: string;
}

async function dirtyDays(db: Kysely<Database>, o: { since?: string; until?: string; projectIds?: readonly string[] }): Promise<DayRef[]> {
  const r = await sql<DayRef>`
    select project_id as "projectId", day::text as day from deepgram_archive.dirty_days
    where (${o.since ?? null}::date is null or day >= ${o.since ?? null}::date)
      and (${o.until ?? null}::date is null or day <= ${o.until ?? null}::date)
      and (${o.projectIds?.length ? [...o.projectIds] : null}::text[] is null or project_id = any(${o.projectIds?.length ? [...o.projectIds] : null}::text[]))
    order by project_id, day`.execute(db);
  return r.rows;
}

/**
 * Every local day that has request rows, has rollups (which may have to go) or is marked dirty,
 * and how many rollup days were left out: those wholly before a project's oldest archived request
 * in the zone they were built in (`rollupZone`), whose logs retention removed. They cannot be
 * recomputed, only emptied, so they are kept as built.
 */
async function allDays(
  db: Kysely<Database>,
  timezone: string,
  rollupZone: string,
  o: { since?: string; until?: string; projectIds?: readonly string[] },
): Promise<{ days: DayRef[]; kept: number }> {
  const ids = o.projectIds?.length ? [...o.projectIds] : null;
  const r = await sql<DayRef & { kept: boolean }>`
    with recursive projects as (
      select project_id from deepgram_archive.projects
      union select distinct project_id from deepgram_archive.daily_usage
      union select distinct project_id from deepgram_archive.dirty_days
    ),
    -- One probe of the (project_id, created) index per local day that has rows, however sparse.
    with_rows(project_id, day) as (
      select p.project_id, ((select min(q.created) from deepgram_archive.requests q where q.project_id = p.project_id) at time zone ${timezone})::date
      from projects p
      union all
      select w.project_id, (
        (select min(q.created) from deepgram_archive.requests q
         where q.project_id = w.project_id and q.created >= ((w.day + 1)::timestamp at time zone ${timezone})) at time zone ${timezone})::date
      from with_rows w where w.day is not null
    ),
    firsts as (
      select p.project_id,
        ((select min(q.created) from deepgram_archive.requests q where q.project_id = p.project_id) at time zone ${rollupZone})::date as first_day
      from projects p
    ),
    rolled_up as (
      select u.project_id, u.day, coalesce(u.day < f.first_day, true) as kept
      from (select project_id, day from deepgram_archive.daily_usage union select project_id, day from deepgram_archive.daily_usage_by_tag) u
      left join firsts f on f.project_id = u.project_id
    ),
    days as (
      select project_id, day, false as kept from with_rows where day is not null
      union select project_id, day, kept from rolled_up
      union select project_id, day, false from deepgram_archive.dirty_days
    )
    select project_id as "projectId", day::text as day, bool_and(kept) as kept from days
    where (${o.since ?? null}::date is null or day >= ${o.since ?? null}::date)
      and (${o.until ?? null}::date is null or day <= ${o.until ?? null}::date)
      and (${ids}::text[] is null or project_id = any(${ids}::text[]))
    group by project_id, day
    order by project_id, day`.execute(db);
  return { days: r.rows.filter((d) => !d.kept).map(({ projectId, day }) => ({ projectId, day })), kept: r.rows.filter((d) => d.kept).length };
}
