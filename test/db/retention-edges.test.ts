import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import pg from "pg";
import { silentLogger } from "../../src/logger.js";
import { ManualClock } from "../../src/clock.js";
import { parseRange } from "../../src/time-range.js";
import { addHold, runRetention, type RetentionConfig } from "../../src/retention/index.js";
import { openEngineDatabase, type EngineDatabase } from "../helpers/engines.js";

// Retention at its edges: rollup tables whose days are UTC days under a hold given in another
// zone, and rows that a pass commits while retention runs.
const T = new Date("2026-11-20T12:20:00Z");
const DAY = 86_400_000;
const thirtyDays = { kind: "duration", ms: 30 * DAY, text: "30d" } as const;
let tdb: EngineDatabase;
const db = () => tdb.database.db;
const retain = (config: RetentionConfig, command: string) =>
  runRetention({ database: tdb.database, clock: new ManualClock(T.toISOString()), logger: silentLogger(), config }, { dryRun: false, command });
const archived = (p: string, id: string, created: string) => sql`
  insert into deepgram_archive.requests (project_id, request_id, created, endpoint, status, raw, content_hash, first_archived_at, last_changed_at)
  values (${p}, ${id}, ${created}::timestamptz, 'listen', 'succeeded', jsonb_build_object('request_id', ${id}::text),
    deepgram_archive.content_hash(jsonb_build_object('request_id', ${id}::text)), now(), now())`;
const asArchiver = (statements: Array<ReturnType<typeof sql>>) =>
  db().transaction().execute(async (trx) => {
    await sql`select set_config('deepgram_archive.writer', 'archiver', true)`.execute(trx);
    for (const s of statements) await s.execute(trx);
  });

beforeAll(async () => {
  tdb = await openEngineDatabase("postgres", "retention_edges", silentLogger(), 4);
});
afterAll(async () => {
  await tdb?.drop();
});

describe("retention at its edges", () => {
  it("keeps Deepgram's usage and the reconciliation of every UTC day a hold overlaps, when the hold was given in ARCHIVER_TIMEZONE", async () => {
    const zone = "America/New_York";
    const hold = parseRange("2026-09-14", "2026-09-14", zone); // [09-14T04:00Z, 09-15T04:00Z): UTC days 09-14 and 09-15
    await addHold(db(), { projectId: null, since: hold.since!, until: hold.until!, reason: "case 31", now: T, command: "test" });
    for (const day of ["2026-09-13", "2026-09-14", "2026-09-15", "2026-09-16"]) {
      await sql`insert into deepgram_archive.vendor_daily_usage (project_id, day, hours, requests, raw, fetched_at, changed_at) values ('p1', ${day}::date, 1, 10, '{}', now(), now())`.execute(db());
      await sql`insert into deepgram_archive.reconciliation (project_id, day, status, archived_requests, archived_hours, checked_at) values ('p1', ${day}::date, 'ok', 10, 1, now())`.execute(db());
    }
    const r = await retain({ retention: { kind: "forever" }, rollupRetention: thirtyDays, timezone: zone, rescanMs: 72 * 3_600_000 }, "retention");
    expect(r.rollups.filter((t) => t.rows > 0)).toEqual([
      { table: "vendor_daily_usage", rows: 2 },
      { table: "reconciliation", rows: 2 },
    ]);
    const left = await sql<{ t: string; day: string }>`
      select 'vendor' as t, day::text as day from deepgram_archive.vendor_daily_usage
      union all select 'reconciliation', day::text from deepgram_archive.reconciliation order by 1, 2`.execute(db());
    expect(left.rows.map((x) => [x.t, x.day])).toEqual([
      ["reconciliation", "2026-09-14"],
      ["reconciliation", "2026-09-15"],
      ["vendor", "2026-09-14"],
      ["vendor", "2026-09-15"],
    ]);
  });

  it("reports and audits a row a pass committed after retention counted, when it deletes it", async () => {
    await asArchiver([
      archived("pA", "a-1", "2026-01-05T10:00:00Z"),
      sql`insert into deepgram_archive.request_versions (project_id, request_id, created, raw, content_hash, valid_from, superseded_at)
        values ('pA', 'a-1', '2026-01-05T10:00:00Z', '{}', 'x', now(), now())`,
    ]);
    const locker = new pg.Client({ connectionString: tdb.url! });
    const writer = new pg.Client({ connectionString: tdb.url! });
    await Promise.all([locker.connect(), writer.connect()]);
    try {
      // Hold retention in its first delete (the versions'), after it counted the expired rows.
      await locker.query("begin");
      await locker.query("select 1 from deepgram_archive.request_versions where request_id = 'a-1' for update");
      const running = retain({ retention: thirtyDays, rollupRetention: { kind: "forever" }, timezone: "UTC", rescanMs: 72 * 3_600_000 }, "run");
      let waiting = 0;
      for (let i = 0; i < 400 && waiting === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
        // Asked outside any transaction: inside one (the locker's), pg_stat_activity is read once and
        // kept until it ends, so a poll that came before retention's delete would never see it.
        waiting = (
          await writer.query<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%delete from deepgram_archive.request_versions%'",
          )
        ).rows[0]!.n;
      }
      expect(waiting).toBe(1);
      // Meanwhile a pass commits an old row of another project (a new project's backfill).
      await writer.query("begin");
      await writer.query("select set_config('deepgram_archive.writer', 'archiver', true)");
      await writer.query(`
        insert into deepgram_archive.requests (project_id, request_id, created, endpoint, status, raw, content_hash, first_archived_at, last_changed_at)
        values ('pB', 'b-1', '2026-01-06T10:00:00Z', 'listen', 'succeeded', '{"request_id":"b-1"}', deepgram_archive.content_hash('{"request_id":"b-1"}'), now(), now())`);
      await writer.query("commit");
      await locker.query("commit");
      const r = await running;
      const left = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests where created < '2026-02-01'`.execute(db());
      expect(left.rows[0]!.n).toBe(0);
      expect(r.months.map((m) => [m.projectId, m.month, m.rows])).toEqual([
        ["pA", "2026-01", 1],
        ["pB", "2026-01", 1],
      ]);
      expect(r.totals.rows).toBe(2);
      const audit = await sql<{ action: string; project_id: string | null; rows: string }>`
        select action, project_id, rows from deepgram_archive.audit_log where command = 'run' order by audit_id`.execute(db());
      expect(audit.rows.map((a) => [a.action, a.project_id, Number(a.rows)])).toEqual([
        ["retention.purge", "pA", 1],
        ["retention.purge", "pB", 1],
        ["retention.run", null, 2],
      ]);
    } finally {
      await Promise.all([locker.end(), writer.end()]);
    }
  });
});
