import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Migrator, sql } from "kysely";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { runCliInProcess as runCli } from "../helpers/cli.js";
import { verifyArchive } from "../../src/retention/index.js";
import { createTestDatabase } from "../helpers/database.js";
import { openPostgres } from "../../src/db/connection.js";
import { describeDatabaseUrl } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import type { Clock } from "../../src/clock.js";
import { migrations } from "../../migrations/index.js";

const DAY_MS = 86_400_000;
// Now 2026-11-20T12:20Z, rescan 72h: the UTC days before 2026-11-17 are sealed.
const SEALED_DAYS = ["2026-11-12", "2026-11-13", "2026-11-14", "2026-11-15", "2026-11-16"];

let f: ArchiveFixture;
let projects: string[];
const all = { since: null, until: null, projectIds: null };
const verify = () => verifyArchive(f.database.db, { ...all, now: f.clock.now() });
const cli = (args: string[], clock?: Clock) => runCli(args, { DATABASE_URL: f.tdb.url!, LOG_LEVEL: "silent" }, clock);

/** Runs statements as an administrator's documented override, in one transaction. */
const override = (reason: string, statements: Array<ReturnType<typeof sql>>) =>
  f.database.db.transaction().execute(async (trx) => {
    await sql`select set_config('deepgram_archive.writer', ${`admin-override: ${reason}`}, true)`.execute(trx);
    for (const s of statements) await s.execute(trx);
  });

beforeAll(async () => {
  // One-day windows: few rows and few requests; every day of the 90-day horizon is still planned.
  f = await createArchiveFixture("verify", { sim: { days: 8, perDay: 24 }, settings: { windowMs: DAY_MS } });
  expect((await f.sync()).outcome).toBe("succeeded");
  projects = f.sim.projects().map((p) => p.project_id).sort();
});
afterAll(async () => {
  await f?.close();
});

describe("day seals and verify", () => {
  it("seals each UTC day older than the rescan horizon with its row count and a digest of its rows' content hashes", async () => {
    const seals = await sql<{ project_id: string; day: string; row_count: number; digest: string; expected_rows: number; expected_digest: string }>`
      select s.project_id, s.day::text as day, s.row_count, s.digest, x.n as expected_rows, x.d as expected_digest
      from deepgram_archive.day_seals s
      cross join lateral (
        select count(*)::int as n,
          encode(sha256(convert_to(coalesce(string_agg(r.content_hash, ',' order by r.request_id collate "C", r.created), ''), 'UTF8')), 'hex') as d
        from deepgram_archive.requests r
        where r.project_id = s.project_id and r.created >= s.day::timestamp at time zone 'UTC' and r.created < (s.day + 1)::timestamp at time zone 'UTC') x
      order by 1, 2`.execute(f.database.db);
    expect(seals.rows.map((s) => [s.project_id, s.day])).toEqual(projects.flatMap((p) => SEALED_DAYS.map((d) => [p, d])));
    for (const s of seals.rows) expect([s.row_count, s.digest]).toEqual([s.expected_rows, s.expected_digest]);
    expect(seals.rows.every((s) => s.row_count > 0)).toBe(true);
  });

  it("passes on an untouched archive (exit 0)", async () => {
    const v = await verify();
    const rows = (await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests`.execute(f.database.db)).rows[0]!.n;
    expect([v.ok, v.rowsHashed, v.hashMismatchCount, v.daysSealed, v.daysIntact, v.changedDays, v.guardProblems]).toEqual([true, rows, 0, 10, 10, [], []]);
    const r = await cli(["verify"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("OK: verified the archive.");
  });

  it("runs for an auditor who has only deepgram_archive_reader (no migration, no write)", async () => {
    const asReader = new URL(f.tdb.url!);
    asReader.searchParams.set("options", "-c role=deepgram_archive_reader");
    const r = await runCli(["verify", "--json"], { DATABASE_URL: asReader.toString(), LOG_LEVEL: "silent" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { report: { ok: boolean; daysSealed: number } }).report).toMatchObject({ ok: true, daysSealed: 10 });
    const write = await runCli(["verify", "--accept", "--reason", "not allowed"], { DATABASE_URL: asReader.toString(), LOG_LEVEL: "silent" });
    expect(write.code).toBe(1);
    expect(write.stderr).toMatch(/permission denied/);
  });

  it("shows status and lists holds for deepgram_archive_reader, as for the archiver's own role", async () => {
    const asReader = new URL(f.tdb.url!);
    asReader.searchParams.set("options", "-c role=deepgram_archive_reader");
    for (const args of [["status", "--json"], ["hold", "list", "--json"]]) {
      // Both at the fixture's time: status's horizon margin is counted in seconds from now, so on
      // the system's clock two runs a second apart differ (seen in CI).
      const reader = await runCli(args, { DATABASE_URL: asReader.toString(), LOG_LEVEL: "silent" }, f.clock);
      const owner = await cli(args, f.clock);
      expect([reader.code, reader.stderr, owner.code, owner.stderr]).toEqual([0, "", 0, ""]);
      expect(reader.stdout).toBe(owner.stdout);
    }
    const status = JSON.parse((await cli(["status", "--json"])).stdout) as { projects: Array<{ projectId: string; rows: number }> };
    const rows = await sql<{ project_id: string; n: number }>`select project_id, count(*)::int as n from deepgram_archive.requests group by 1 order by 1`.execute(f.database.db);
    expect(status.projects.map((p) => [p.projectId, p.rows])).toEqual(rows.rows.map((r) => [r.project_id, r.n]));
  });

  it("reads without migrating: on a database with no archive, or an older one, the readers say to sync or migrate and create nothing", async () => {
    const empty = await createTestDatabase("verify_empty");
    try {
      const env = { DATABASE_URL: empty.url, LOG_LEVEL: "silent" };
      const readers = [["status"], ["verify"], ["hold", "list"], ["export", "--since", "2026-11-12", "--until", "2026-11-13", "--format", "jsonl", "--out", join(tmpdir(), `dga-never-${process.pid}.jsonl`)]];
      for (const args of readers) {
        const r = await runCli(args, env);
        expect([r.code, r.stdout]).toEqual([1, ""]);
        expect(r.stderr).toContain(`The database ${describeDatabaseUrl(empty.url)} holds no archive yet. Run \`deepgram-archiver sync\``);
      }
      const database = await openPostgres({ url: empty.url, target: empty.name, logger: silentLogger(), poolSize: 1 });
      try {
        const schemas = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'deepgram_archive'`.execute(database.db);
        expect(schemas.rows[0]!.n).toBe(0);
        // An archive made by an older build, before the migration that added reconciliation.
        await sql`create schema deepgram_archive`.execute(database.db);
        const older = new Migrator({ db: database.db, provider: { getMigrations: async () => migrations }, migrationTableSchema: "deepgram_archive" });
        expect((await older.migrateTo("0001_archive")).error).toBeUndefined();
        const status = await runCli(["status"], env);
        expect([status.code, status.stdout]).toEqual([1, ""]);
        expect(status.stderr).toContain("predates migration 0002_usage_rollups, which `deepgram-archiver status` reads. Run `deepgram-archiver migrate`");
        const applied = await sql<{ name: string }>`select name from deepgram_archive.kysely_migration order by name`.execute(database.db);
        expect(applied.rows.map((r) => r.name)).toEqual(["0001_archive"]);
      } finally {
        await database.close();
      }
    } finally {
      await empty.drop();
    }
  });

  it("re-seals a sealed day the archiver fetched again and found changed, and logs the re-seal", async () => {
    const changed = f.sim.control.mutate(120);
    f.clock.advance(3_600_000);
    const report = await f.sync({ since: new Date("2026-11-12T00:00:00Z"), until: new Date("2026-11-17T00:00:00Z") });
    expect(report.outcome).toBe("succeeded");
    const updated = report.projects.reduce((a, p) => a + p.updated, 0);
    expect(updated).toBeGreaterThan(0);
    const inSealedDays = await sql<{ day: string; n: number }>`
      select (created at time zone 'UTC')::date::text as day, count(*)::int as n from deepgram_archive.requests
      where request_id in (select jsonb_array_elements_text(${JSON.stringify(changed)}::jsonb)) and created < '2026-11-17T00:00:00Z'
      group by 1 order by 1`.execute(f.database.db);
    const reseals = await sql<{ day: string; rows: string; command: string }>`
      select detail ->> 'day' as day, rows, command from deepgram_archive.audit_log where action = 'seal.reseal' order by 1`.execute(f.database.db);
    expect(reseals.rows.map((r) => [r.day, Number(r.rows), r.command])).toEqual(inSealedDays.rows.map((d) => [d.day, d.n, "sync"]));
    expect(updated).toBe(inSealedDays.rows.reduce((a, d) => a + d.n, 0));
    const v = await verify();
    expect([v.ok, v.daysIntact, v.changedDays, v.awaitingReseal]).toEqual([true, 10, [], []]);
  });

  describe("after a deliberate override edits sealed days", () => {
    let keys: Array<{ project_id: string; request_id: string; created: Date }>;
    beforeAll(async () => {
      keys = (
        await sql<{ project_id: string; request_id: string; created: Date }>`
          select project_id, request_id, created from deepgram_archive.requests
          where project_id = ${projects[0]!} and created >= '2026-11-14T00:00:00Z' and created < '2026-11-15T00:00:00Z'
          order by request_id limit 5`.execute(f.database.db)
      ).rows;
      const [a, b, c, d, e] = keys.map((k) => k.request_id);
      await override("INC-7 manual correction", [
        // a: raw and its hash rewritten; b: a typed column only; c: deleted; d: a forged copy; e: raw edited, hash left.
        sql`update deepgram_archive.requests set raw = raw || '{"edited": true}', content_hash = deepgram_archive.content_hash(raw || '{"edited": true}') where request_id = ${a}`,
        sql`update deepgram_archive.requests set usd = 0 where request_id = ${b}`,
        sql`delete from deepgram_archive.requests where request_id = ${c}`,
        sql`insert into deepgram_archive.requests (project_id, request_id, created, endpoint, status, raw, content_hash, first_archived_at, last_changed_at)
            select project_id, 'forged-' || request_id, created, endpoint, status, raw, content_hash, first_archived_at, last_changed_at
            from deepgram_archive.requests where request_id = ${d}`,
        sql`update deepgram_archive.requests set raw = raw || '{"quiet": 1}' where request_id = ${e}`,
      ]);
    });

    it("fails (exit 1) and names each changed row, with the override that did it", async () => {
      const v = await verify();
      expect(v.ok).toBe(false);
      expect(v.hashMismatches.map((m) => m.requestId)).toEqual([keys[4]!.request_id]);
      expect(v.changedDays.map((d) => [d.projectId, d.day, d.sealedRows, d.currentRows])).toEqual([[projects[0], "2026-11-14", expect.any(Number), expect.any(Number)]]);
      const day = v.changedDays[0]!;
      expect(day.currentRows).toBe(day.sealedRows);
      expect(day.currentDigest).not.toBe(day.sealedDigest);
      const [a, b, c, d] = keys.map((k) => k.request_id);
      expect(day.changes.map((x) => [x.requestId, x.kind, x.explained, x.override?.reason]).sort()).toEqual(
        [
          [a, "changed", false, "INC-7 manual correction"],
          [b, "columns_changed", false, "INC-7 manual correction"],
          [c, "removed", false, "INC-7 manual correction"],
          [`forged-${d}`, "added", false, "INC-7 manual correction"],
        ].sort(),
      );
      expect(v.overrides.map((o) => o.operation).sort()).toEqual(["DELETE", "INSERT", "UPDATE", "UPDATE", "UPDATE"]);

      const r = await cli(["verify", "--since", "2026-11-14", "--until", "2026-11-14"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`FAILED: verified the archive`);
      expect(r.stdout).toContain(`changed day ${projects[0]} 2026-11-14`);
      expect(r.stdout).toContain(`raw edited: ${projects[0]} ${keys[4]!.request_id}`);
      expect(r.stdout).toMatch(new RegExp(`columns_changed\\s+${b}.*\\(override #\\d+: INC-7 manual correction\\)`));
    });

    it("is not absorbed by the next pass: a re-fetch restores what Deepgram still has, and the rest stays reported", async () => {
      const sealOf = async () =>
        (await sql<{ digest: string; sealed_at: Date }>`
          select digest, sealed_at from deepgram_archive.day_seals where project_id = ${projects[0]!} and day = '2026-11-14'`.execute(f.database.db)).rows[0];
      const sealBefore = await sealOf();
      f.clock.advance(3_600_000);
      expect((await f.sync({ since: new Date("2026-11-14T00:00:00Z"), until: new Date("2026-11-15T00:00:00Z") })).outcome).toBe("succeeded");
      const v = await verify();
      const [, b, , d] = keys.map((k) => k.request_id);
      expect(v.ok).toBe(false);
      expect(v.changedDays.flatMap((x) => x.changes.map((c) => [c.requestId, c.kind])).sort()).toEqual([[b, "columns_changed"], [`forged-${d}`, "added"]].sort());
      expect(v.hashMismatches.map((m) => m.requestId)).toEqual([keys[4]!.request_id]);
      expect(await sealOf()).toEqual(sealBefore);
    });

    it("passes again once an operator accepts the days with a reason, which audit_log records", async () => {
      const e = keys[4]!.request_id;
      await override("INC-7 fix hash", [sql`update deepgram_archive.requests set content_hash = deepgram_archive.content_hash(raw) where request_id = ${e}`]);
      const r = await cli(["verify", "--accept", "--reason", "INC-7 approved by compliance"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^accepted 1 changed day\(s\) \(3 rows\) as they are now/);
      const accepted = await sql<{ project_id: string; rows: string; reason: string }>`
        select project_id, rows, detail ->> 'reason' as reason from deepgram_archive.audit_log where action = 'seal.accept'`.execute(f.database.db);
      expect(accepted.rows.map((a) => [a.project_id, Number(a.rows), a.reason])).toEqual([[projects[0], 3, "INC-7 approved by compliance"]]);
      expect((await verify()).ok).toBe(true);
    });
  });

  it("fails on an override that removes a sealed day's rows with its seal, after the next pass seals the emptied day too, until it is accepted", async () => {
    const [p, day] = [projects[1]!, "2026-11-13"];
    const sealedRows = (await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.sealed_rows where project_id = ${p} and day = ${day}`.execute(f.database.db)).rows[0]!.n;
    expect(sealedRows).toBeGreaterThan(0);
    await override("INC-11 erase the day", [
      sql`delete from deepgram_archive.requests where project_id = ${p} and created >= ${`${day}T00:00:00Z`} and created < '2026-11-14T00:00:00Z'`,
      sql`delete from deepgram_archive.sealed_rows where project_id = ${p} and day = ${day}`,
      sql`delete from deepgram_archive.day_seals where project_id = ${p} and day = ${day}`,
    ]);
    const expected = [...Array(sealedRows).fill(["sealed_rows", "DELETE", p, day]), ["day_seals", "DELETE", p, day]];
    const shape = (v: Awaited<ReturnType<typeof verify>>) => v.sealOverrides.map((o) => [o.table, o.operation, o.projectId, o.day]);
    let v = await verify();
    expect([v.ok, v.sealOverrideCount, v.changedDays]).toEqual([false, sealedRows + 1, []]);
    expect(shape(v)).toEqual(expected);
    // Other days' checks do not carry it.
    const other = await verifyArchive(f.database.db, { since: new Date("2026-11-14T00:00:00Z"), until: null, projectIds: null, now: f.clock.now() });
    expect([other.ok, other.sealOverrideCount]).toEqual([true, 0]);

    // The next pass seals the day as it is now (no rows): the seal agrees with the rows, the override still fails.
    // (Only this project's pass: the other's days were accepted above by the CLI, on the wall clock, not the test's.)
    f.clock.advance(3_600_000);
    expect((await f.sync({ projectIds: [p] })).outcome).toBe("succeeded");
    const seal = await sql<{ row_count: number }>`select row_count from deepgram_archive.day_seals where project_id = ${p} and day = ${day}`.execute(f.database.db);
    expect(seal.rows).toEqual([{ row_count: 0 }]);
    v = await verify();
    expect([v.ok, v.sealOverrideCount, v.changedDays]).toEqual([false, sealedRows + 1, []]);

    const failed = await cli(["verify"]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(`overrides of the seals themselves, not accepted: ${sealedRows + 1}`);
    expect(failed.stdout).toMatch(new RegExp(`#\\d+ \\S+ DELETE day_seals ${p} ${day} by \\S+: INC-11 erase the day`));

    const r = await cli(["verify", "--accept", "--reason", "INC-11 erasure approved by compliance"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toMatch(new RegExp(`^accepted ${sealedRows + 1} override\\(s\\) of the seals as they are now`));
    const accepted = await sql<{ project_id: string; day: string; reason: string; ids: number[] }>`
      select project_id, detail ->> 'day' as day, detail ->> 'reason' as reason, detail -> 'seal_overrides' as ids
      from deepgram_archive.audit_log where action = 'seal.accept' and detail ? 'seal_overrides'`.execute(f.database.db);
    expect(accepted.rows.map((a) => [a.project_id, a.day, a.reason, a.ids.length])).toEqual([[p, day, "INC-11 erasure approved by compliance", sealedRows + 1]]);
    expect(accepted.rows[0]!.ids.map(String)).toEqual(v.sealOverrides.map((o) => o.auditId));
    v = await verify();
    expect([v.ok, v.sealOverrideCount]).toEqual([true, 0]);
  });

  it("judges a day on all its changes when the listing is cut at its limit", async () => {
    const [p, day] = [projects[1]!, "2026-11-15"];
    const sealedAt = (await sql<{ sealed_at: Date }>`select sealed_at from deepgram_archive.day_seals where project_id = ${p} and day = ${day}`.execute(f.database.db)).rows[0]!.sealed_at;
    const last = (
      await sql<{ request_id: string }>`
        select request_id from deepgram_archive.requests where project_id = ${p} and created >= ${`${day}T00:00:00Z`} and created < '2026-11-16T00:00:00Z'
        order by request_id collate "C" desc limit 1`.execute(f.database.db)
    ).rows[0]!.request_id;
    // The unexplained change sorts after three the archiver explains (rows it archived after the seal).
    await override("INC-9 erase", [sql`delete from deepgram_archive.requests where project_id = ${p} and request_id = ${last}`]);
    const at = new Date(sealedAt.getTime() + 3_600_000);
    await f.database.db.transaction().execute(async (trx) => {
      await sql`select set_config('deepgram_archive.writer', 'archiver', true)`.execute(trx);
      await sql`
        insert into deepgram_archive.requests (project_id, request_id, created, endpoint, status, raw, content_hash, first_archived_at, last_changed_at)
        select ${p}, '0000-late-' || i, ${`${day}T12:00:00Z`}::timestamptz, 'listen', 'succeeded', jsonb_build_object('request_id', '0000-late-' || i),
          deepgram_archive.content_hash(jsonb_build_object('request_id', '0000-late-' || i)), ${at}, ${at}
        from generate_series(1, 3) i`.execute(trx);
    });
    const cut = await verifyArchive(f.database.db, { ...all, now: f.clock.now(), limit: 2 });
    expect([cut.ok, cut.truncated, cut.awaitingReseal]).toEqual([false, true, []]);
    expect(cut.changedDays.map((d) => [d.projectId, d.day, d.changes.map((c) => [c.requestId, c.explained])])).toEqual([
      [p, day, [["0000-late-1", true], ["0000-late-2", true]]],
    ]);
    const whole = await verify();
    expect(whole.changedDays.map((d) => [d.day, d.changes.map((c) => [c.requestId, c.kind, c.explained])])).toEqual([
      [day, [["0000-late-1", "added", true], ["0000-late-2", "added", true], ["0000-late-3", "added", true], [last, "removed", false]]],
    ]);
  });

  it("ends a pass partial, with the reason in sync_runs, when its days cannot be sealed; the next pass seals them", async () => {
    // Sealing fails as a full disk or a lost connection would: every insert into day_seals is refused.
    await sql`create function public.refuse_seal() returns trigger language plpgsql as $$ begin raise exception 'no space left on device (test)'; end $$`.execute(f.database.db);
    await sql`create trigger refuse_seal before insert on deepgram_archive.day_seals for each row execute function public.refuse_seal()`.execute(f.database.db);
    const sealedDays = async () => (await sql<{ day: string }>`select distinct day::text as day from deepgram_archive.day_seals order by 1`.execute(f.database.db)).rows.map((r) => r.day);
    const before = await sealedDays();
    expect(before.at(-1)).toBe("2026-11-16");

    f.clock.advance(DAY_MS);
    const failed = await f.sync();
    expect(failed.outcome).toBe("partial");
    expect(failed.projects.map((p) => p.outcome)).toEqual(["succeeded", "succeeded"]);
    expect(failed.error).toMatch(/^could not seal archive days \(the next pass tries again\): .*no space left on device \(test\)/);
    const run = await sql<{ outcome: string; error: string }>`select outcome, error from deepgram_archive.sync_runs order by run_id desc limit 1`.execute(f.database.db);
    expect(run.rows).toEqual([{ outcome: "partial", error: failed.error }]);
    expect(await sealedDays()).toEqual(before);

    await sql`drop trigger refuse_seal on deepgram_archive.day_seals`.execute(f.database.db);
    f.clock.advance(3_600_000);
    expect((await f.sync()).outcome).toBe("succeeded");
    expect(await sealedDays()).toEqual([...before, "2026-11-17"]);
  });
});
