import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { countSealedDayChanges, diffSealedDays, digestOf, unacceptedSealOverrides, type SealDiff, type SealOverride, type SealRange } from "./seals.js";
import { withoutJit } from "./writer.js";

export interface VerifyOptions {
  /** [since, until) of created; null bounds stay open. Sealed days are the UTC days it touches. */
  since: Date | null;
  until: Date | null;
  projectIds: readonly string[] | null;
  now: Date;
  /** Most rows listed (counts stay exact). */
  limit?: number;
}

export interface DayCheck {
  projectId: string;
  day: string;
  sealedRows: number;
  currentRows: number;
  sealedDigest: string;
  currentDigest: string;
  sealedAt: string;
  reseals: number;
  changes: SealDiff[];
}

export interface VerifyReport {
  at: string;
  since: string | null;
  until: string | null;
  /** Rows whose content hash was computed again from raw. */
  rowsHashed: number;
  /** Rows whose raw no longer hashes to their content_hash. */
  hashMismatches: Array<{ projectId: string; requestId: string; created: string; storedHash: string; rawHash: string }>;
  hashMismatchCount: number;
  daysSealed: number;
  daysIntact: number;
  /** Sealed days with a change the archiver did not make: the failures. */
  changedDays: DayCheck[];
  /** Sealed days changed only by the archiver's own later fetches; the next pass re-seals them. */
  awaitingReseal: DayCheck[];
  /** Guard triggers that are missing or disabled. */
  guardProblems: string[];
  /** Overrides of the seals themselves (day_seals, sealed_rows) not yet accepted: failures. */
  sealOverrides: SealOverride[];
  sealOverrideCount: number;
  /** Overrides audit_log recorded for rows in the range (and for whole tables). */
  overrides: Array<{ auditId: string; at: string; table: string | null; operation: string | null; projectId: string | null; requestId: string | null; reason: string | null; actor: string }>;
  truncated: boolean;
  ok: boolean;
}

const GUARDED = ["requests", "request_versions", "day_seals", "sealed_rows"];

/**
 * Recomputes, from the data alone, what the archive claims: every row's content hash from its raw,
 * every sealed day's digest from its rows, and every sealed row against its seal. Read-only: an
 * auditor's check never changes the evidence.
 */
export async function verifyArchive(db: Kysely<Database>, opts: VerifyOptions): Promise<VerifyReport> {
  const limit = opts.limit ?? 1000;
  const projects = JSON.stringify(opts.projectIds ?? []);
  const rowFilter = sql`(${opts.since}::timestamptz is null or r.created >= ${opts.since}::timestamptz)
    and (${opts.until}::timestamptz is null or r.created < ${opts.until}::timestamptz)
    and (${opts.projectIds === null}::boolean or r.project_id in (select jsonb_array_elements_text(${projects}::jsonb)))`;

  return db.transaction().execute(async (trx) => {
    // One snapshot for every check, and nothing written.
    await sql`set transaction isolation level repeatable read, read only`.execute(trx);
    await withoutJit(trx);
    const totals = (
      await sql<{ n: number; bad: number }>`
        select count(*)::int as n, count(*) filter (where r.content_hash <> deepgram_archive.content_hash(r.raw))::int as bad
        from deepgram_archive.requests r where ${rowFilter}`.execute(trx)
    ).rows[0]!;
    const mismatches =
      totals.bad === 0
        ? []
        : (
            await sql<{ project_id: string; request_id: string; created: Date; content_hash: string; raw_hash: string }>`
              select r.project_id, r.request_id, r.created, r.content_hash, deepgram_archive.content_hash(r.raw) as raw_hash
              from deepgram_archive.requests r
              where ${rowFilter} and r.content_hash <> deepgram_archive.content_hash(r.raw)
              order by r.project_id, r.created, r.request_id collate "C" limit ${limit}`.execute(trx)
          ).rows;

    const scope: SealRange = {
      fromDay: opts.since ? utcDay(opts.since) : null,
      toDay: opts.until ? utcDay(new Date(opts.until.getTime() - 1)) : null,
      projectIds: opts.projectIds,
    };
    const days = await sql<{ project_id: string; day: string; row_count: number; digest: string; sealed_at: Date; reseals: number; n: number; current_digest: string }>`
      select s.project_id, s.day::text as day, s.row_count, s.digest, s.sealed_at, s.reseals, c.n, c.current_digest
      from deepgram_archive.day_seals s
      cross join lateral (
        select count(*)::int as n, ${digestOf("r")} as current_digest from deepgram_archive.requests r
        where r.project_id = s.project_id and r.created >= (s.day::timestamp at time zone 'UTC')
          and r.created < ((s.day + 1)::timestamp at time zone 'UTC')) c
      where (${scope.fromDay}::date is null or s.day >= ${scope.fromDay}::date)
        and (${scope.toDay}::date is null or s.day <= ${scope.toDay}::date)
        and (${opts.projectIds === null}::boolean or s.project_id in (select jsonb_array_elements_text(${projects}::jsonb)))
      order by 1, 2`.execute(trx);
    const diffs = await diffSealedDays(trx, scope, limit);
    // A day is judged on all of its changes, not on the ones the listing had room for: a listing cut
    // at the limit could show only explained rows of a day whose unexplained one comes after them.
    const counts = diffs.truncated ? await countSealedDayChanges(trx, scope) : countListed(diffs.rows);

    const changedDays: DayCheck[] = [];
    const awaitingReseal: DayCheck[] = [];
    for (const d of days.rows) {
      const changes = diffs.rows.filter((x) => x.projectId === d.project_id && x.day === d.day);
      const count = counts.get(`${d.project_id}|${d.day}`) ?? { changes: 0, unexplained: 0 };
      const digestMoved = d.digest !== d.current_digest || d.row_count !== d.n;
      if (count.changes === 0 && !digestMoved) continue;
      const check: DayCheck = {
        projectId: d.project_id,
        day: d.day,
        sealedRows: d.row_count,
        currentRows: d.n,
        sealedDigest: d.digest,
        currentDigest: d.current_digest,
        sealedAt: d.sealed_at.toISOString(),
        reseals: d.reseals,
        changes,
      };
      // A moved digest with no differing row counts as unexplained.
      if (count.changes > 0 && count.unexplained === 0) awaitingReseal.push(check);
      else changedDays.push(check);
    }

    const guardProblems = await checkGuards(trx);
    // A seal deleted or edited with its rows leaves no day to compare: the override itself fails.
    const sealOverrides = await unacceptedSealOverrides(trx, scope, limit);
    const overrides = await sql<{ audit_id: string; at: Date; detail: Record<string, string | undefined>; project_id: string | null; actor: string }>`
      select a.audit_id::text, a.at, a.detail, a.project_id, a.actor from deepgram_archive.audit_log a
      where a.action = 'override'
        and (a.range_start is null or ((${opts.since}::timestamptz is null or a.range_start >= ${opts.since}::timestamptz)
          and (${opts.until}::timestamptz is null or a.range_start < ${opts.until}::timestamptz)))
      order by a.audit_id limit ${limit}`.execute(trx);

    return {
      at: opts.now.toISOString(),
      since: opts.since?.toISOString() ?? null,
      until: opts.until?.toISOString() ?? null,
      rowsHashed: totals.n,
      hashMismatches: mismatches.map((m) => ({ projectId: m.project_id, requestId: m.request_id, created: m.created.toISOString(), storedHash: m.content_hash, rawHash: m.raw_hash })),
      hashMismatchCount: totals.bad,
      daysSealed: days.rows.length,
      daysIntact: days.rows.length - changedDays.length - awaitingReseal.length,
      changedDays,
      awaitingReseal,
      guardProblems,
      sealOverrides: sealOverrides.rows,
      sealOverrideCount: sealOverrides.count,
      overrides: overrides.rows.map((o) => ({
        auditId: o.audit_id,
        at: o.at.toISOString(),
        table: o.detail.table ?? null,
        operation: o.detail.operation ?? null,
        projectId: o.project_id,
        requestId: o.detail.request_id ?? null,
        reason: o.detail.reason ?? null,
        actor: o.actor,
      })),
      truncated: diffs.truncated || mismatches.length < totals.bad || sealOverrides.rows.length < sealOverrides.count,
      ok: totals.bad === 0 && changedDays.length === 0 && guardProblems.length === 0 && sealOverrides.count === 0,
    };
  });
}

/** Per day, the changes and unexplained changes of a listing that holds all of them. */
function countListed(rows: SealDiff[]): Map<string, { changes: number; unexplained: number }> {
  const counts = new Map<string, { changes: number; unexplained: number }>();
  for (const r of rows) {
    const c = counts.get(`${r.projectId}|${r.day}`) ?? { changes: 0, unexplained: 0 };
    c.changes++;
    if (!r.explained) c.unexplained++;
    counts.set(`${r.projectId}|${r.day}`, c);
  }
  return counts;
}

/** The guard triggers of migrations/0003, present and enabled on every table and partition. */
async function checkGuards(db: Kysely<Database>): Promise<string[]> {
  const partitions = (
    await sql<{ name: string }>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'deepgram_archive.requests'::regclass`.execute(db)
  ).rows.map((r) => r.name);
  const expected: Array<[string, string]> = [];
  for (const t of [...GUARDED, ...partitions]) {
    expected.push([t, "refuse_unmarked_change"], [t, "refuse_unmarked_insert"], [t, "refuse_truncate"]);
  }
  for (const t of ["audit_log", "legal_holds"]) expected.push([t, "refuse_unmarked_change"], [t, "refuse_truncate"]);
  const present = await sql<{ rel: string; tg: string; enabled: string }>`
    select c.relname as rel, t.tgname as tg, t.tgenabled::text as enabled
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'deepgram_archive' and t.tgname like 'refuse\\_%'`.execute(db);
  const byKey = new Map(present.rows.map((r) => [`${r.rel}|${r.tg}`, r.enabled]));
  const problems: string[] = [];
  for (const [rel, tg] of expected) {
    const enabled = byKey.get(`${rel}|${tg}`);
    if (enabled === undefined) problems.push(`trigger ${tg} is missing on deepgram_archive.${rel}`);
    // O: fires in the normal session mode; A: always. D (disabled) and R (replica only) do not guard.
    else if (enabled !== "O" && enabled !== "A") problems.push(`trigger ${tg} on deepgram_archive.${rel} is disabled`);
  }
  return problems;
}

function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}
