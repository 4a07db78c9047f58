import { sql, type RawBuilder, type Transaction } from "kysely";
import { DateTime } from "luxon";
import type { ArchiveDatabase } from "../db/connection.js";
import { cancelOnAbort } from "../db/statement-cancel.js";
import type { Database } from "../db/schema.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import type { Retention } from "../config.js";
import { writeAudit, type AuditEntry } from "./audit.js";
import { partitionMonth, retentionCutoff, rollupCutoffDay } from "./policy.js";
import { declareWriter, lockCompliance, withoutJit } from "./writer.js";
import { removeExpiredSealMembers } from "./seals.js";

export interface RetentionConfig {
  retention: Retention;
  rollupRetention: Retention;
  timezone: string;
  rescanMs: number;
}

export interface RetentionDeps {
  database: ArchiveDatabase;
  clock: Clock;
  logger: Logger;
  /** The parsed Config satisfies this. */
  config: RetentionConfig;
}

export interface RetentionOptions {
  /** Count what would go and change nothing. */
  dryRun: boolean;
  /** Recorded in audit_log: "retention", "run", ... */
  command: string;
  /** Stops the run (rolled back: nothing removed), as `run` does on SIGTERM. */
  signal?: AbortSignal;
}

/** What goes (or would go) from one project's month of one partition. */
export interface RetentionMonth {
  projectId: string;
  /** UTC month, YYYY-MM. */
  month: string;
  partition: string;
  method: "drop-partition" | "delete-rows";
  rows: number;
  versions: number;
  heldRowsKept: number;
  rangeStart: string;
  rangeEnd: string;
}

export interface RetentionReport {
  dryRun: boolean;
  at: string;
  policy: string;
  rollupPolicy: string;
  /** Request logs created before this go; null when the policy is forever. */
  cutoff: string | null;
  clampedToRescan: boolean;
  /** Rollup days before this go; null when the rollup policy is forever. */
  rollupCutoffDay: string | null;
  activeHolds: number;
  months: RetentionMonth[];
  partitionsDropped: string[];
  totals: { rows: number; versions: number; heldRowsKept: number; sealedRows: number };
  rollups: Array<{ table: string; rows: number }>;
}

/**
 * Tables of day figures that ARCHIVER_ROLLUP_RETENTION governs (migrations/0002), and the zone of
 * their `day`: the summarizer's in ARCHIVER_TIMEZONE, Deepgram's usage and the reconciliation in UTC.
 */
const ROLLUP_TABLES = [
  { name: "daily_usage", zone: "local" },
  { name: "daily_usage_by_tag", zone: "local" },
  { name: "vendor_daily_usage", zone: "UTC" },
  { name: "reconciliation", zone: "UTC" },
] as const;

interface MonthCount {
  partition: string;
  project_id: string;
  month: string;
  expired: number;
  held: number;
}

/**
 * Applies ARCHIVER_RETENTION and ARCHIVER_ROLLUP_RETENTION in one transaction: whole expired
 * monthly partitions without held rows are dropped, every other expired row is deleted row by
 * row unless an active legal hold covers it, versions go with their rows, seals forget the
 * purged rows, and each purge is written to audit_log. With `dryRun` the same counts come from a
 * read-only transaction and nothing changes.
 */
export async function runRetention(deps: RetentionDeps, options: RetentionOptions): Promise<RetentionReport> {
  const { config } = deps;
  const now = deps.clock.now();
  const cut = retentionCutoff(now, config.retention, config.timezone, config.rescanMs);
  const rollupDay = rollupCutoffDay(now, config.rollupRetention, config.timezone);
  const log = deps.logger.child({ component: "retention", dryRun: options.dryRun });

  const report = await deps.database.db
    .transaction()
    .execute(async (trx) => {
      const stopCancelling = await cancelOnAbort(deps.database, trx, options.signal);
      try {
        return await retainIn(trx);
      } finally {
        stopCancelling();
      }
    })
    .catch((err: unknown) => {
      if (options.signal?.aborted) throw new Error("retention stopped before it finished; it runs in one transaction, so nothing was removed", { cause: err });
      throw err;
    });
  log.info(
    { cutoff: report.cutoff, rows: report.totals.rows, versions: report.totals.versions, held: report.totals.heldRowsKept, partitionsDropped: report.partitionsDropped },
    options.dryRun ? "retention dry run" : "retention applied",
  );
  return report;

  async function retainIn(trx: Transaction<Database>): Promise<RetentionReport> {
    if (options.dryRun) {
      await sql`set transaction read only`.execute(trx);
      await withoutJit(trx);
    } else {
      await lockCompliance(trx);
      await declareWriter(trx, "retention");
    }
    const activeHolds = (await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.legal_holds where released_at is null`.execute(trx)).rows[0]!.n;
    const out: RetentionReport = {
      dryRun: options.dryRun,
      at: now.toISOString(),
      policy: describePolicy(config.retention),
      rollupPolicy: describePolicy(config.rollupRetention),
      cutoff: cut?.cutoff.toISOString() ?? null,
      clampedToRescan: cut?.clampedToRescan ?? false,
      rollupCutoffDay: rollupDay,
      activeHolds,
      months: [],
      partitionsDropped: [],
      totals: { rows: 0, versions: 0, heldRowsKept: 0, sealedRows: 0 },
      rollups: [],
    };
    if (cut) await purgeRequests(trx, cut.cutoff, options.dryRun, out);
    if (rollupDay) out.rollups = await purgeRollups(trx, rollupDay, config.timezone, options.dryRun);
    if (!options.dryRun) await writeAudit(trx, auditEntries(out, options.command, now));
    return out;
  }
}

async function purgeRequests(trx: Transaction<Database>, cutoff: Date, dryRun: boolean, out: RetentionReport): Promise<void> {
  const counts = await countExpired(trx, sql`deepgram_archive.requests`, cutoff);
  const versions = await sql<{ project_id: string; month: string; n: number }>`
    select project_id, to_char(created at time zone 'UTC', 'YYYY-MM') as month,
      count(*) filter (where not deepgram_archive.is_held(project_id, created))::int as n
    from deepgram_archive.request_versions where created < ${cutoff}
    group by 1, 2`.execute(trx);
  const partitions = (
    await sql<{ name: string }>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'deepgram_archive.requests'::regclass order by c.relname`.execute(trx)
  ).rows.map((r) => r.name);
  const heldIn = (p: string) => counts.filter((c) => c.partition === p).reduce((a, c) => a + c.held, 0);
  const droppable = new Set(partitions.filter((p) => (partitionMonth(p)?.end.getTime() ?? Infinity) <= cutoff.getTime() && heldIn(p) === 0));

  let final = counts;
  let versionRows = versions.rows;
  if (!dryRun) {
    const deletedVersions = await sql<{ project_id: string; month: string; n: number }>`
      with d as (
        delete from deepgram_archive.request_versions v
        where v.created < ${cutoff} and not deepgram_archive.is_held(v.project_id, v.created)
        returning v.project_id, v.created)
      select project_id, to_char(created at time zone 'UTC', 'YYYY-MM') as month, count(*)::int as n from d group by 1, 2`.execute(trx);
    versionRows = deletedVersions.rows;
    final = [];
    for (const p of partitions.filter((p) => !droppable.has(p))) {
      const here = counts.filter((c) => c.partition === p);
      if (!here.some((c) => c.expired > 0)) {
        final.push(...here);
        continue;
      }
      const deleted = await sql<{ project_id: string; month: string; n: number }>`
        with d as (
          delete from ${sql.table(`deepgram_archive.${p}`)} r
          where r.created < ${cutoff} and not deepgram_archive.is_held(r.project_id, r.created)
          returning r.project_id, r.created)
        select project_id, to_char(created at time zone 'UTC', 'YYYY-MM') as month, count(*)::int as n from d group by 1, 2`.execute(trx);
      for (const c of here) {
        const n = deleted.rows.find((d) => d.project_id === c.project_id && d.month === c.month)?.n ?? 0;
        final.push({ ...c, expired: n });
      }
      // The delete sees rows committed after the counts (a pass's page meanwhile, such as a new
      // project's backfill): what it deleted is what the report and audit_log must say.
      for (const d of deleted.rows) {
        if (!here.some((c) => c.project_id === d.project_id && c.month === d.month)) final.push({ partition: p, project_id: d.project_id, month: d.month, expired: d.n, held: 0 });
      }
    }
    out.totals.sealedRows = await removeExpiredSealMembers(trx, cutoff);
    // Dropping a partition locks the parent; taking that lock before the partition's keeps the
    // lock order of a page commit, so a pass running meanwhile waits instead of deadlocking.
    if (droppable.size > 0) await sql`lock table deepgram_archive.requests in access exclusive mode`.execute(trx);
    for (const p of droppable) {
      const inside = await countExpired(trx, sql.table(`deepgram_archive.${p}`), partitionMonth(p)!.end, p);
      if (inside.some((c) => c.held > 0)) throw new Error(`partition ${p} gained held rows during retention; run retention again`);
      await sql`drop table ${sql.table(`deepgram_archive.${p}`)}`.execute(trx);
      out.partitionsDropped.push(p);
      final.push(...inside);
    }
  } else {
    out.partitionsDropped = [...droppable];
  }

  const months = new Map<string, RetentionMonth>();
  for (const c of final) {
    const start = DateTime.fromISO(`${c.month}-01T00:00:00Z`, { zone: "utc" });
    const end = new Date(Math.min(start.plus({ months: 1 }).toMillis(), cutoff.getTime()));
    months.set(`${c.project_id}|${c.month}|${c.partition}`, {
      projectId: c.project_id,
      month: c.month,
      partition: c.partition,
      method: droppable.has(c.partition) ? "drop-partition" : "delete-rows",
      rows: c.expired,
      versions: 0,
      heldRowsKept: c.held,
      rangeStart: start.toJSDate().toISOString(),
      rangeEnd: end.toISOString(),
    });
  }
  for (const v of versionRows) {
    const m = [...months.values()].find((m) => m.projectId === v.project_id && m.month === v.month);
    if (m) m.versions += v.n;
  }
  out.months = [...months.values()]
    .filter((m) => m.rows > 0 || m.versions > 0 || m.heldRowsKept > 0)
    .sort((a, b) => a.month.localeCompare(b.month) || a.projectId.localeCompare(b.projectId) || a.partition.localeCompare(b.partition));
  out.totals.rows = out.months.reduce((a, m) => a + m.rows, 0);
  out.totals.heldRowsKept = out.months.reduce((a, m) => a + m.heldRowsKept, 0);
  out.totals.versions = versionRows.reduce((a, v) => a + v.n, 0);
}

/** Expired and held rows older than `before`, per partition, project and UTC month. */
async function countExpired(trx: Transaction<Database>, table: RawBuilder<unknown>, before: Date, only?: string): Promise<MonthCount[]> {
  const r = await sql<MonthCount>`
    with g as (
      select r.tableoid, r.project_id, to_char(r.created at time zone 'UTC', 'YYYY-MM') as month,
        count(*) filter (where not deepgram_archive.is_held(r.project_id, r.created))::int as expired,
        count(*) filter (where deepgram_archive.is_held(r.project_id, r.created))::int as held
      from ${table} r where r.created < ${before}
      group by 1, 2, 3)
    select c.relname as partition, g.project_id, g.month, g.expired, g.held
    from g join pg_class c on c.oid = g.tableoid`.execute(trx);
  return only ? r.rows.filter((c) => c.partition === only) : r.rows;
}

/** Rollup days before `cutoffDay`, except days a hold overlaps, each table's days read in its own zone. */
async function purgeRollups(trx: Transaction<Database>, cutoffDay: string, timezone: string, dryRun: boolean): Promise<Array<{ table: string; rows: number }>> {
  const out: Array<{ table: string; rows: number }> = [];
  for (const { name, zone } of ROLLUP_TABLES) {
    const dayZone = zone === "local" ? timezone : "UTC";
    const exists = (await sql<{ t: string | null }>`select to_regclass(${`deepgram_archive.${name}`})::text as t`.execute(trx)).rows[0]!.t;
    if (!exists) continue;
    const table = sql.table(`deepgram_archive.${name}`);
    const expired = sql`
      t.day < ${cutoffDay}::date and not exists (
        select 1 from deepgram_archive.legal_holds h
        where h.released_at is null and (h.project_id is null or h.project_id = t.project_id)
          and h.since < ((t.day + 1)::timestamp at time zone ${dayZone}) and h.until > (t.day::timestamp at time zone ${dayZone}))`;
    const r = dryRun
      ? await sql<{ n: number }>`select count(*)::int as n from ${table} t where ${expired}`.execute(trx)
      : await sql<{ n: number }>`with d as (delete from ${table} t where ${expired} returning 1) select count(*)::int as n from d`.execute(trx);
    out.push({ table: name, rows: r.rows[0]!.n });
  }
  return out;
}

function auditEntries(r: RetentionReport, command: string, at: Date): AuditEntry[] {
  const entries: AuditEntry[] = r.months
    .filter((m) => m.rows > 0 || m.versions > 0)
    .map((m) => ({
      at,
      action: "retention.purge",
      command,
      projectId: m.projectId,
      rangeStart: new Date(m.rangeStart),
      rangeEnd: new Date(m.rangeEnd),
      rows: m.rows,
      detail: { month: m.month, partition: m.partition, method: m.method, versions: m.versions, heldRowsKept: m.heldRowsKept, policy: r.policy, cutoff: r.cutoff },
    }));
  for (const t of r.rollups.filter((t) => t.rows > 0)) {
    entries.push({ at, action: "retention.rollups", command, rows: t.rows, detail: { table: t.table, policy: r.rollupPolicy, cutoffDay: r.rollupCutoffDay } });
  }
  entries.push({
    at,
    action: "retention.run",
    command,
    rangeEnd: r.cutoff ? new Date(r.cutoff) : null,
    rows: r.totals.rows,
    detail: {
      policy: r.policy,
      rollupPolicy: r.rollupPolicy,
      cutoff: r.cutoff,
      clampedToRescan: r.clampedToRescan,
      rollupCutoffDay: r.rollupCutoffDay,
      versions: r.totals.versions,
      heldRowsKept: r.totals.heldRowsKept,
      sealedRowsForgotten: r.totals.sealedRows,
      partitionsDropped: r.partitionsDropped,
      activeHolds: r.activeHolds,
      rollupRows: r.rollups.reduce((a, t) => a + t.rows, 0),
    },
  });
  return entries;
}

function describePolicy(r: Retention): string {
  return r.kind === "forever" ? "forever" : r.text;
}
