import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import { DateTime } from "luxon";
import type { Database } from "../db/schema.js";
import type { Logger } from "../logger.js";
import { latestAuditId, writeAudit, type AuditEntry } from "./audit.js";
import { declareWriter, lockCompliance } from "./writer.js";

type Db = Kysely<Database> | Transaction<Database>;

/** A sealed day: (project, UTC day as YYYY-MM-DD). */
export interface SealDay {
  projectId: string;
  day: string;
}

/** One row that differs from its day's seal. */
export interface SealDiff {
  projectId: string;
  day: string;
  requestId: string;
  created: string;
  /** columns_changed: raw is as sealed but a typed column (usd, api_key_id, ...) is not. */
  kind: "added" | "removed" | "changed" | "columns_changed";
  sealedHash: string | null;
  currentHash: string | null;
  /** The archiver made this change after sealing (a later fetch); the next pass re-seals the day. */
  explained: boolean;
  /** The newest override audit_log recorded for this row since the day was sealed. */
  override: { auditId: string; reason: string | null } | null;
}

export interface SealReport {
  /** Days sealed for the first time. */
  sealed: number;
  /** Sealed days the archiver changed and sealed again (each written to audit_log). */
  resealed: number;
  /** Sealed days whose changes the archiver did not make: left for `verify` to report. */
  unexplained: SealDay[];
}

/** The sha256 over the content hashes of `alias`'s rows, in the fixed order of the seal. */
export function digestOf(alias: string): RawBuilder<unknown> {
  return sql.raw(
    `encode(sha256(convert_to(coalesce(string_agg(${alias}.content_hash, ',' order by ${alias}.request_id collate "C", ${alias}.created), ''), 'UTF8')), 'hex')`,
  );
}

/** An audit entry's range for a UTC day. */
const dayRange = (day: string) => ({ rangeStart: new Date(`${day}T00:00:00Z`), rangeEnd: DateTime.fromISO(day, { zone: "utc" }).plus({ days: 1 }).toJSDate() });

const DAY_START = (day: string) => sql.raw(`(${day}::timestamp at time zone 'UTC')`);
const DAY_END = (day: string) => sql.raw(`((${day} + 1)::timestamp at time zone 'UTC')`);

/**
 * The rows of the UTC day `${alias}.day` of project `${alias}.project_id`, for a lateral join: one
 * index range scan per day ("offset 0" keeps the planner from turning it into a join that compares
 * every row with every day).
 */
function dayRows(alias: string): RawBuilder<unknown> {
  return sql.raw(`(
    select r.project_id, r.request_id, r.created, r.content_hash, deepgram_archive.request_columns_hash(r) as columns_hash
    from deepgram_archive.requests r
    where r.project_id = ${alias}.project_id
      and r.created >= (${alias}.day::timestamp at time zone 'UTC') and r.created < ((${alias}.day + 1)::timestamp at time zone 'UTC')
    offset 0)`);
}

/**
 * Run at the end of every pass. Days now older than the rescan horizon (UTC days, every window of
 * which the ledger shows complete or lost) get a seal: their rows' hashes and a digest. Sealed
 * days whose windows were fetched again since they were last checked (pending rows, reconciliation,
 * an explicit backfill) are compared with their seal; when every difference is the archiver's own
 * write, the day is sealed again and the re-seal written to audit_log. Other differences stay for
 * `verify` to report.
 */
export async function sealArchive(db: Kysely<Database>, opts: { now: Date; rescanMs: number; command: string; logger: Logger }): Promise<SealReport> {
  const sealBefore = DateTime.fromMillis(opts.now.getTime() - opts.rescanMs, { zone: "utc" }).startOf("day").toISODate()!;
  // New seals a month of days per transaction, so the first pass over a large archive commits as it goes.
  let sealed = 0;
  for (;;) {
    const n = await db.transaction().execute(async (trx) => {
      await lockCompliance(trx);
      await declareWriter(trx, "archiver");
      const fresh = await sealableDays(trx, sealBefore, SEAL_DAYS_PER_TRANSACTION);
      await writeSeals(trx, fresh, opts.now, await latestAuditId(trx));
      return fresh.length;
    });
    sealed += n;
    if (n < SEAL_DAYS_PER_TRANSACTION) break;
  }
  const report = await db.transaction().execute(async (trx) => {
    await lockCompliance(trx);
    await declareWriter(trx, "archiver");
    await sql`select deepgram_archive.protect_partitions()`.execute(trx);
    const watermark = await latestAuditId(trx);

    const candidates = (
      await sql<{ project_id: string; day: string }>`
        select s.project_id, s.day::text as day from deepgram_archive.day_seals s
        where exists (
          select 1 from deepgram_archive.sync_windows w
          where w.project_id = s.project_id and w.last_fetched_at > s.checked_at
            and w.window_start < ${DAY_END("s.day")} and w.window_start > ((s.day - 1)::timestamp at time zone 'UTC')
            and w.window_end > ${DAY_START("s.day")})
        order by 1, 2`.execute(trx)
    ).rows.map((r) => ({ projectId: r.project_id, day: r.day }));
    const unexplained: SealDay[] = [];
    const reseal: SealDay[] = [];
    const audit: AuditEntry[] = [];
    if (candidates.length > 0) {
      const { rows: diffs } = await diffSealedDays(trx, { days: candidates }, Number.MAX_SAFE_INTEGER);
      for (const d of candidates) {
        const mine = diffs.filter((x) => x.projectId === d.projectId && x.day === d.day);
        if (mine.length === 0) continue;
        if (mine.some((x) => !x.explained)) {
          unexplained.push(d);
          continue;
        }
        reseal.push(d);
        audit.push({
          at: opts.now,
          action: "seal.reseal",
          command: opts.command,
          projectId: d.projectId,
          ...dayRange(d.day),
          rows: mine.length,
          detail: { day: d.day, reason: "rows the archiver fetched again after sealing", ...describeChanges(mine) },
        });
      }
      await writeSeals(trx, reseal, opts.now, watermark);
      await writeAudit(trx, audit);
      await sql`
        update deepgram_archive.day_seals s set checked_at = ${opts.now}
        from jsonb_to_recordset(${JSON.stringify(candidates.map((c) => ({ project_id: c.projectId, day: c.day })))}::jsonb) as x(project_id text, day date)
        where s.project_id = x.project_id and s.day = x.day and s.checked_at < ${opts.now}`.execute(trx);
    }
    return { sealed, resealed: reseal.length, unexplained };
  });
  const log = opts.logger.child({ component: "seals" });
  if (report.sealed || report.resealed) log.info({ sealed: report.sealed, resealed: report.resealed }, "sealed archive days");
  for (const d of report.unexplained) {
    log.warn({ projectId: d.projectId, day: d.day }, "a sealed day changed outside the archiver; `deepgram-archiver verify` lists the rows");
  }
  return report;
}

const SEAL_DAYS_PER_TRANSACTION = 31;

/** Unsealed days before `sealBefore` that the ledger proves complete, from each project's first row on (oldest first). */
async function sealableDays(trx: Transaction<Database>, sealBefore: string, limit: number): Promise<SealDay[]> {
  const r = await sql<{ project_id: string; day: string }>`
    with bounds as (
      select p.project_id, (x.first at time zone 'UTC')::date as first_day
      from deepgram_archive.projects p
      cross join lateral (select min(r.created) as first from deepgram_archive.requests r where r.project_id = p.project_id) x
      where x.first is not null),
    candidates as (
      select b.project_id, g.day::date as day
      from bounds b
      cross join lateral generate_series(b.first_day::timestamp, (${sealBefore}::date - 1)::timestamp, interval '1 day') as g(day)
      where not exists (select 1 from deepgram_archive.day_seals s where s.project_id = b.project_id and s.day = g.day::date))
    select c.project_id, c.day::text as day from candidates c
    -- The union of the windows, not the sum of their lengths: after ARCHIVER_WINDOW changed, rows
    -- of the old width and the new can overlap, and a sum would count an hour twice and hide one
    -- never read.
    where coalesce((
      select range_agg(tstzrange(w.window_start, w.window_end))
      from deepgram_archive.sync_windows w
      where w.project_id = c.project_id and w.state in ('complete', 'lost')
        and w.window_start < ${DAY_END("c.day")} and w.window_start > ((c.day - 1)::timestamp at time zone 'UTC')
        and w.window_end > ${DAY_START("c.day")}
    ) @> tstzrange(${DAY_START("c.day")}, ${DAY_END("c.day")}), false)
    order by c.day, c.project_id
    limit ${limit}`.execute(trx);
  return r.rows.map((x) => ({ projectId: x.project_id, day: x.day }));
}

/** (Re)writes the seals of `days` from the rows as they are now. */
export async function writeSeals(trx: Transaction<Database>, days: SealDay[], now: Date, watermark: string): Promise<void> {
  if (days.length === 0) return;
  const list = JSON.stringify(days.map((d) => ({ project_id: d.projectId, day: d.day })));
  const daysTable = sql`(select distinct x.project_id, x.day from jsonb_to_recordset(${list}::jsonb) as x(project_id text, day date))`;
  await sql`
    delete from deepgram_archive.sealed_rows m using ${daysTable} d
    where m.project_id = d.project_id and m.day = d.day`.execute(trx);
  await sql`
    insert into deepgram_archive.sealed_rows (project_id, day, request_id, created, content_hash, columns_hash)
    select r.project_id, d.day, r.request_id, r.created, r.content_hash, r.columns_hash
    from ${daysTable} d
    cross join lateral ${dayRows("d")} r`.execute(trx);
  await sql`
    insert into deepgram_archive.day_seals as s (project_id, day, row_count, digest, sealed_at, first_sealed_at, checked_at, audit_watermark)
    select d.project_id, d.day, count(m.request_id)::int, ${digestOf("m")}, ${now}::timestamptz, ${now}::timestamptz, ${now}::timestamptz, ${watermark}::bigint
    from ${daysTable} d
    left join deepgram_archive.sealed_rows m on m.project_id = d.project_id and m.day = d.day
    group by d.project_id, d.day
    on conflict (project_id, day) do update set
      row_count = excluded.row_count, digest = excluded.digest, sealed_at = excluded.sealed_at,
      checked_at = excluded.checked_at, audit_watermark = excluded.audit_watermark, reseals = s.reseals + 1`.execute(trx);
}

/**
 * Retention removes rows; their seals forget exactly those rows (same rule: older than the cutoff
 * and not held) and keep the rest of each day's seal as it was, so a held row edited outside the
 * archiver is still reported. Returns how many sealed rows were forgotten.
 */
export async function removeExpiredSealMembers(trx: Transaction<Database>, cutoff: Date): Promise<number> {
  const gone = await sql<{ project_id: string; day: string; n: number }>`
    with d as (
      delete from deepgram_archive.sealed_rows m
      where m.created < ${cutoff} and not deepgram_archive.is_held(m.project_id, m.created)
      returning m.project_id, m.day)
    select project_id, day::text as day, count(*)::int as n from d group by 1, 2`.execute(trx);
  if (gone.rows.length === 0) return 0;
  await sql`
    update deepgram_archive.day_seals s set row_count = x.n, digest = x.digest
    from (
      select d.project_id, d.day, count(m.request_id)::int as n, ${digestOf("m")} as digest
      from jsonb_to_recordset(${JSON.stringify(gone.rows)}::jsonb) as d(project_id text, day date)
      left join deepgram_archive.sealed_rows m on m.project_id = d.project_id and m.day = d.day
      group by d.project_id, d.day) x
    where s.project_id = x.project_id and s.day = x.day`.execute(trx);
  return gone.rows.reduce((a, r) => a + r.n, 0);
}

/** Sealed days from fromDay to toDay (inclusive, open when null) of the projects (all when null). */
export interface SealRange {
  fromDay: string | null;
  toDay: string | null;
  projectIds: readonly string[] | null;
}

export type SealScope = { days: SealDay[] } | SealRange;

function scopeFilter(scope: SealScope): RawBuilder<unknown> {
  if ("days" in scope) {
    const list = JSON.stringify(scope.days.map((d) => ({ project_id: d.projectId, day: d.day })));
    return sql`(s.project_id, s.day) in (select x.project_id, x.day from jsonb_to_recordset(${list}::jsonb) as x(project_id text, day date))`;
  }
  return sql`(${scope.fromDay}::date is null or s.day >= ${scope.fromDay}::date)
    and (${scope.toDay}::date is null or s.day <= ${scope.toDay}::date)
    and (${scope.projectIds === null}::boolean
      or s.project_id in (select jsonb_array_elements_text(${JSON.stringify(scope.projectIds ?? [])}::jsonb)))`;
}

/**
 * Every row of the sealed days in `scope` that differs from its seal, with whether the archiver
 * explains it: an added row it first archived after the seal, a changed row whose sealed content it
 * kept as a version when it fetched a new one, and in both cases raw still matching content_hash
 * and no override logged for the row since the seal. A query of its own, to list or to count.
 */
function sealDiffs(scope: SealScope): RawBuilder<unknown> {
  return sql`
    with s as (select * from deepgram_archive.day_seals s where ${scopeFilter(scope)}),
    cur as (
      select r.project_id, s.day, r.request_id, r.created, r.content_hash, r.columns_hash
      from s cross join lateral ${dayRows("s")} r),
    m as (select m.* from deepgram_archive.sealed_rows m join s on s.project_id = m.project_id and s.day = m.day),
    d as (
      select coalesce(c.project_id, m.project_id) as project_id, coalesce(c.day, m.day) as day,
        coalesce(c.request_id, m.request_id) as request_id, coalesce(c.created, m.created) as created,
        case when m.request_id is null then 'added' when c.request_id is null then 'removed'
             when c.content_hash <> m.content_hash then 'changed' else 'columns_changed' end as kind,
        m.content_hash as sealed_hash, c.content_hash as current_hash
      from cur c full join m
        on m.project_id = c.project_id and m.day = c.day and m.request_id = c.request_id and m.created = c.created
      where m.request_id is null or c.request_id is null or c.content_hash <> m.content_hash or c.columns_hash <> m.columns_hash)
    select d.project_id, d.day::text as day, d.request_id, d.created, d.kind, d.sealed_hash, d.current_hash,
      o.audit_id::text as override_id, o.reason as override_reason,
      coalesce(o.audit_id is null and q.content_hash = deepgram_archive.content_hash(q.raw) and case d.kind
        when 'added' then q.first_archived_at >= s.sealed_at
        when 'changed' then q.last_changed_at >= s.sealed_at and exists (
          select 1 from deepgram_archive.request_versions v
          where v.project_id = d.project_id and v.request_id = d.request_id and v.created = d.created
            and v.content_hash = d.sealed_hash and v.superseded_at >= s.sealed_at)
        else false end, false) as explained
    from d
    join s on s.project_id = d.project_id and s.day = d.day
    left join lateral (
      select q.content_hash, q.raw, q.first_archived_at, q.last_changed_at from deepgram_archive.requests q
      where q.project_id = d.project_id and q.request_id = d.request_id and q.created = d.created offset 0) q on true
    left join lateral (
      select a.audit_id, a.detail ->> 'reason' as reason from deepgram_archive.audit_log a
      where a.action = 'override' and a.audit_id > s.audit_watermark and a.project_id = d.project_id
        and a.range_start = d.created and a.detail ->> 'request_id' = d.request_id and a.detail ->> 'table' like 'requests%'
      order by a.audit_id desc limit 1) o on true`;
}

/** The first `limit` rows of `sealDiffs`, in a stable order, and whether there were more. */
export async function diffSealedDays(db: Db, scope: SealScope, limit = 5000): Promise<{ rows: SealDiff[]; truncated: boolean }> {
  const r = await sql<{
    project_id: string;
    day: string;
    request_id: string;
    created: Date;
    kind: SealDiff["kind"];
    sealed_hash: string | null;
    current_hash: string | null;
    explained: boolean;
    override_id: string | null;
    override_reason: string | null;
  }>`
    select x.project_id, x.day, x.request_id, x.created, x.kind, x.sealed_hash, x.current_hash,
      x.override_id, x.override_reason, x.explained
    from (${sealDiffs(scope)}) x
    order by x.project_id, x.day, x.request_id collate "C", x.created
    limit ${limit + 1}`.execute(db);
  const rows = r.rows.slice(0, limit).map((x) => ({
    projectId: x.project_id,
    day: x.day,
    requestId: x.request_id,
    created: new Date(x.created).toISOString(),
    kind: x.kind,
    sealedHash: x.sealed_hash,
    currentHash: x.current_hash,
    explained: x.explained,
    override: x.override_id ? { auditId: x.override_id, reason: x.override_reason } : null,
  }));
  return { rows, truncated: r.rows.length > limit };
}

/**
 * Per sealed day in `scope` that differs from its seal: how many rows differ, and how many of them
 * the archiver does not explain. Exact however many rows differ, where a listing stops at its limit.
 */
export async function countSealedDayChanges(db: Db, scope: SealScope): Promise<Map<string, { changes: number; unexplained: number }>> {
  const r = await sql<{ project_id: string; day: string; changes: number; unexplained: number }>`
    select x.project_id, x.day, count(*)::int as changes, count(*) filter (where not x.explained)::int as unexplained
    from (${sealDiffs(scope)}) x group by 1, 2`.execute(db);
  return new Map(r.rows.map((x) => [`${x.project_id}|${x.day}`, { changes: x.changes, unexplained: x.unexplained }]));
}

/**
 * After a deliberate, documented change (an erasure done under an override), an operator accepts
 * the days as they are now: they are sealed again and the acceptance, with its reason and the rows
 * it covers, is written to audit_log. Overrides of the seals themselves are accepted too, each
 * listed by audit id in a `seal.accept` entry's `seal_overrides`.
 */
export async function acceptSealedDays(
  db: Kysely<Database>,
  opts: { scope: SealRange; reason: string; now: Date; command: string },
): Promise<{ days: SealDay[]; rows: number; sealOverrides: number }> {
  return db.transaction().execute(async (trx) => {
    await lockCompliance(trx);
    await declareWriter(trx, "archiver");
    const { rows } = await diffSealedDays(trx, opts.scope, Number.MAX_SAFE_INTEGER);
    // Overrides of the seals themselves are accepted by name (audit id), with the day they touched.
    const overrides = (await unacceptedSealOverrides(trx, opts.scope, Number.MAX_SAFE_INTEGER)).rows;
    // What is accepted per (project, day), one audit entry each; "" holds statement overrides, which name no day.
    const groups = new Map<string, { day: SealDay | null; changes: SealDiff[]; overrides: SealOverride[] }>();
    const groupOf = (day: SealDay | null) => {
      const key = day ? `${day.projectId}|${day.day}` : "";
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { day, changes: [], overrides: [] }));
      return g;
    };
    for (const r of rows) groupOf({ projectId: r.projectId, day: r.day }).changes.push(r);
    for (const o of overrides) groupOf(o.projectId !== null && o.day !== null ? { projectId: o.projectId, day: o.day } : null).overrides.push(o);
    const days = [...groups.values()].filter((g) => g.changes.length > 0).map((g) => g.day!);
    // A day only an override of its seal touched is sealed as it is now if it still has a seal or
    // rows (a pass seals a day without either).
    const resealable = await daysWithSealOrRows(
      trx,
      [...groups.values()].filter((g) => g.changes.length === 0 && g.day !== null).map((g) => g.day!),
    );
    await writeSeals(trx, [...days, ...resealable], opts.now, await latestAuditId(trx));
    await writeAudit(
      trx,
      [...groups.values()].map((g) => ({
        at: opts.now,
        action: "seal.accept" as const,
        command: opts.command,
        projectId: g.day?.projectId ?? null,
        ...(g.day ? dayRange(g.day.day) : {}),
        rows: g.changes.length > 0 ? g.changes.length : null,
        detail: {
          ...(g.day ? { day: g.day.day } : {}),
          reason: opts.reason,
          ...describeChanges(g.changes),
          ...(g.overrides.length > 0 ? { seal_overrides: g.overrides.map((o) => Number(o.auditId)) } : {}),
        },
      })),
    );
    return { days, rows: rows.length, sealOverrides: overrides.length };
  });
}

/** Of `days`, those that still have a seal or archived rows. */
async function daysWithSealOrRows(trx: Transaction<Database>, days: SealDay[]): Promise<SealDay[]> {
  if (days.length === 0) return [];
  const r = await sql<{ project_id: string; day: string }>`
    select x.project_id, x.day::text as day from jsonb_to_recordset(${JSON.stringify(days.map((d) => ({ project_id: d.projectId, day: d.day })))}::jsonb) as x(project_id text, day date)
    where exists (select 1 from deepgram_archive.day_seals s where s.project_id = x.project_id and s.day = x.day)
      or exists (select 1 from deepgram_archive.requests r where r.project_id = x.project_id
        and r.created >= (x.day::timestamp at time zone 'UTC') and r.created < ((x.day + 1)::timestamp at time zone 'UTC'))
    order by 1, 2`.execute(trx);
  return r.rows.map((d) => ({ projectId: d.project_id, day: d.day }));
}

/** Audit detail for a day's changes: counts per kind and the first rows of each. */
function describeChanges(rows: SealDiff[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kind of ["added", "removed", "changed", "columns_changed"] as const) {
    const these = rows.filter((r) => r.kind === kind);
    if (these.length === 0) continue;
    out[kind] = these.length;
    out[`${kind}_rows`] = these.slice(0, 100).map((r) => ({ request_id: r.requestId, created: r.created, sealed: r.sealedHash, now: r.currentHash }));
  }
  return out;
}

/** An administrator's override of the seals themselves (day_seals or sealed_rows) that no `verify --accept` has accepted. */
export interface SealOverride {
  auditId: string;
  at: string;
  table: string;
  operation: string | null;
  projectId: string | null;
  /** The sealed day the row belonged to; null for a statement (TRUNCATE) override. */
  day: string | null;
  reason: string | null;
  actor: string;
}

/**
 * Overrides of `day_seals` or `sealed_rows` in the scope's projects and days that no `seal.accept`
 * entry lists. Such an override can remove a day's seal together with its rows, and the next pass
 * then seals the day as it is now; verify fails on it until it is accepted. Statement overrides
 * (no row, so no project or day) are in every scope. Oldest first; `count` is exact.
 */
export async function unacceptedSealOverrides(
  db: Db,
  scope: SealRange,
  limit: number,
): Promise<{ rows: SealOverride[]; count: number }> {
  const r = await sql<{ audit_id: string; at: Date; tbl: string; operation: string | null; project_id: string | null; day: string | null; reason: string | null; actor: string; n: number }>`
    select o.*, count(*) over ()::int as n from (
      select a.audit_id::text as audit_id, a.at, a.detail ->> 'table' as tbl, a.detail ->> 'operation' as operation, a.project_id,
        coalesce(a.detail -> 'old' ->> 'day', a.detail -> 'new' ->> 'day') as day, a.detail ->> 'reason' as reason, a.actor
      from deepgram_archive.audit_log a
      where a.action = 'override' and a.detail ->> 'table' in ('day_seals', 'sealed_rows')
        and not exists (
          select 1 from deepgram_archive.audit_log b
          where b.action = 'seal.accept' and b.detail -> 'seal_overrides' @> jsonb_build_array(a.audit_id))) o
    where (o.day is null or ((${scope.fromDay}::date is null or o.day::date >= ${scope.fromDay}::date)
        and (${scope.toDay}::date is null or o.day::date <= ${scope.toDay}::date)))
      and (o.project_id is null or ${scope.projectIds === null}::boolean
        or o.project_id in (select jsonb_array_elements_text(${JSON.stringify(scope.projectIds ?? [])}::jsonb)))
    order by o.audit_id::bigint limit ${limit}`.execute(db);
  return {
    count: r.rows[0]?.n ?? 0,
    rows: r.rows.map((o) => ({
      auditId: o.audit_id,
      at: o.at.toISOString(),
      table: o.tbl,
      operation: o.operation,
      projectId: o.project_id,
      day: o.day,
      reason: o.reason,
      actor: o.actor,
    })),
  };
}
