import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { runCliInProcess as runCli } from "../helpers/cli.js";
import { parseRange } from "../../src/time-range.js";
import { addHold, releaseHold, runRetention, verifyArchive, type RetentionConfig } from "../../src/retention/index.js";

// The scenario: 95 days archived, a hold over the days 60 to 50 ago, ARCHIVER_RETENTION=30d.
const T = new Date("2026-11-20T12:20:00Z");
const DAY = 86_400_000;
const CUTOFF = new Date("2026-10-21T00:00:00Z"); // start of the UTC day holding T - 30d
const HOLD = parseRange("2026-09-21", "2026-10-01", "UTC"); // 60 to 50 days before T, inclusive days
const POLICY: RetentionConfig = {
  retention: { kind: "duration", ms: 30 * DAY, text: "30d" },
  rollupRetention: { kind: "duration", ms: 55 * DAY, text: "55d" },
  timezone: "UTC",
  rescanMs: 72 * 3_600_000,
};

let f: ArchiveFixture;
type Row = { request_id: string; content_hash: string };
const rowsWhere = async (where: ReturnType<typeof sql>) =>
  (await sql<Row>`select request_id, content_hash from deepgram_archive.requests where ${where} order by request_id`.execute(f.database.db)).rows;
const count = async (q: ReturnType<typeof sql<{ n: number }>>) => (await q.execute(f.database.db)).rows[0]!.n;
const snapshot = async () => ({
  requests: await count(sql`select count(*)::int as n from deepgram_archive.requests`),
  versions: await count(sql`select count(*)::int as n from deepgram_archive.request_versions`),
  audit: await count(sql`select count(*)::int as n from deepgram_archive.audit_log`),
  partitions: (
    await sql<{ name: string }>`
      select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'deepgram_archive.requests'::regclass order by 1`.execute(f.database.db)
  ).rows.map((r) => r.name),
  rollups: await count(sql`select count(*)::int as n from deepgram_archive.daily_usage`),
});
const deps = () => ({ database: f.database, clock: f.clock, logger: f.logger, config: POLICY });

beforeAll(async () => {
  // Archive 95 days: a first pass 5 days before T reaches 90 days back, a second at T adds the rest.
  // One-day windows keep the passes short; the policy works on rows, whatever the window.
  f = await createArchiveFixture("retention", { now: new Date(T.getTime() - 5 * DAY).toISOString(), sim: { anchor: T, days: 95, perDay: 24 }, settings: { windowMs: DAY } });
  expect((await f.sync()).outcome).toBe("succeeded");
  f.clock.set(T);
  // Some records change at Deepgram; re-reading 36..26 days ago keeps their old raw as versions.
  f.sim.control.mutate(300);
  expect((await f.sync()).outcome).toBe("succeeded");
  expect((await f.sync({ since: new Date(T.getTime() - 36 * DAY), until: new Date(T.getTime() - 26 * DAY) })).outcome).toBe("succeeded");
  await addHold(f.database.db, { projectId: null, since: HOLD.since!, until: HOLD.until!, reason: "litigation 2026-117", now: T, command: "test" });
}, 240_000);
afterAll(async () => {
  await f?.close();
});

describe("retention with ARCHIVER_RETENTION=30d and a legal hold", () => {
  let before: Awaited<ReturnType<typeof snapshot>>;
  let held: Row[];
  let young: Row[];
  let expectedRows: number;
  let expectedVersions: number;

  it("starts from 95 archived days, some rows with versions", async () => {
    before = await snapshot();
    const span = await sql<{ oldest: Date; newest: Date }>`select min(created) as oldest, max(created) as newest from deepgram_archive.requests`.execute(f.database.db);
    expect(span.rows[0]!.oldest.getTime()).toBeLessThan(T.getTime() - 94 * DAY);
    expect(span.rows[0]!.newest.getTime()).toBeGreaterThan(T.getTime() - DAY);
    expect(before.partitions).toEqual(["requests_2026_08", "requests_2026_09", "requests_2026_10", "requests_2026_11", "requests_2026_12", "requests_default"]);
    held = await rowsWhere(sql`created >= ${HOLD.since} and created < ${HOLD.until}`);
    young = await rowsWhere(sql`created >= ${new Date(T.getTime() - 30 * DAY)}`);
    expectedRows = await count(sql`
      select count(*)::int as n from deepgram_archive.requests
      where created < ${CUTOFF} and not (created >= ${HOLD.since} and created < ${HOLD.until})`);
    expectedVersions = await count(sql`
      select count(*)::int as n from deepgram_archive.request_versions
      where created < ${CUTOFF} and not (created >= ${HOLD.since} and created < ${HOLD.until})`);
    expect(held.length).toBeGreaterThan(400);
    expect(expectedRows).toBeGreaterThan(1500);
    expect(expectedVersions).toBeGreaterThan(0);
    expect(before.versions).toBeGreaterThan(expectedVersions);
  });

  it("--dry-run lists per project and month what would go and deletes nothing", async () => {
    const report = await runRetention(deps(), { dryRun: true, command: "retention" });
    expect(report.cutoff).toBe(CUTOFF.toISOString());
    expect(report.totals).toEqual({ rows: expectedRows, versions: expectedVersions, heldRowsKept: held.length, sealedRows: 0 });
    expect(report.partitionsDropped).toEqual(["requests_2026_08"]);
    const projects = f.sim.projects().map((p) => p.project_id).sort();
    expect([...new Set(report.months.map((m) => `${m.month} ${m.method}`))]).toEqual(["2026-08 drop-partition", "2026-09 delete-rows", "2026-10 delete-rows"]);
    expect(report.months.map((m) => m.projectId).sort()).toEqual([...projects, ...projects, ...projects].sort());
    expect(await snapshot()).toEqual(before);

    // The command line's dry run (real clock) changes nothing either.
    const cli = await runCli(["retention", "--dry-run"], { DATABASE_URL: f.tdb.url!, ARCHIVER_RETENTION: "30d", LOG_LEVEL: "silent" });
    expect(cli.stderr).toBe("");
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^dry run: nothing was deleted/m);
    expect(cli.stdout).toContain(`${projects[0]}  2026-08`);
    expect(await snapshot()).toEqual(before);
  });

  it("keeps every held row and every row younger than 30 days, and nothing else older than 31 days", async () => {
    const report = await runRetention(deps(), { dryRun: false, command: "retention" });
    expect(report.totals.rows).toBe(expectedRows);
    expect(report.totals.versions).toBe(expectedVersions);
    expect(report.partitionsDropped).toEqual(["requests_2026_08"]);

    expect(await rowsWhere(sql`created >= ${HOLD.since} and created < ${HOLD.until}`)).toEqual(held);
    expect(await rowsWhere(sql`created >= ${new Date(T.getTime() - 30 * DAY)}`)).toEqual(young);
    expect(
      await count(sql`
        select count(*)::int as n from deepgram_archive.requests
        where created < ${new Date(T.getTime() - 31 * DAY)} and not (created >= ${HOLD.since} and created < ${HOLD.until})`),
    ).toBe(0);
    const after = await snapshot();
    expect(after.requests).toBe(before.requests - expectedRows);
    expect(after.versions).toBe(before.versions - expectedVersions);
    expect(after.partitions).toEqual(before.partitions.filter((p) => p !== "requests_2026_08"));
    // Versions of the rows that stay are kept; none is left without its row.
    expect(
      await count(sql`
        select count(*)::int as n from deepgram_archive.request_versions v
        where not exists (select 1 from deepgram_archive.requests r where r.project_id = v.project_id and r.request_id = v.request_id and r.created = v.created)`),
    ).toBe(0);
    // Rollups: days before T - 55d go, except those the hold covers.
    expect(report.rollupCutoffDay).toBe("2026-09-26");
    const rollupDays = await sql<{ day: string }>`select distinct day::text as day from deepgram_archive.daily_usage order by 1`.execute(f.database.db);
    expect(rollupDays.rows[0]!.day).toBe("2026-09-21");
    expect(rollupDays.rows.map((r) => r.day).filter((d) => d < "2026-09-21")).toEqual([]);
  });

  it("writes the purge to audit_log: what, range, rows, when and which command", async () => {
    const purges = await sql<{ project_id: string; range_start: Date; range_end: Date; rows: string; command: string; at: Date; detail: { method: string; versions: number } }>`
      select project_id, range_start, range_end, rows, command, at, detail from deepgram_archive.audit_log
      where action = 'retention.purge' order by range_start, project_id`.execute(f.database.db);
    expect(purges.rows.reduce((a, r) => a + Number(r.rows), 0)).toBe(expectedRows);
    expect(purges.rows.reduce((a, r) => a + r.detail.versions, 0)).toBe(expectedVersions);
    expect(purges.rows.every((r) => r.command === "retention" && r.at.getTime() === T.getTime())).toBe(true);
    expect(purges.rows.map((r) => [r.range_start.toISOString(), r.range_end.toISOString(), r.detail.method])).toEqual(
      [
        ["2026-08-01T00:00:00.000Z", "2026-09-01T00:00:00.000Z", "drop-partition"],
        ["2026-09-01T00:00:00.000Z", "2026-10-01T00:00:00.000Z", "delete-rows"],
        ["2026-10-01T00:00:00.000Z", CUTOFF.toISOString(), "delete-rows"],
      ].flatMap((x) => [x, x]),
    );
    const run = await sql<{ rows: string; detail: { partitionsDropped: string[]; heldRowsKept: number } }>`
      select rows, detail from deepgram_archive.audit_log where action = 'retention.run'`.execute(f.database.db);
    expect(run.rows.map((r) => [Number(r.rows), r.detail.partitionsDropped, r.detail.heldRowsKept])).toEqual([[expectedRows, ["requests_2026_08"], held.length]]);
    const rollups = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.audit_log where action = 'retention.rollups'`.execute(f.database.db);
    expect(rollups.rows[0]!.n).toBeGreaterThan(0);
    const after = await snapshot();
    console.log(
      `95 days x 2 projects: ${before.requests} rows, ${before.versions} versions; hold 2026-09-21..2026-10-01: ${held.length} rows; ` +
        `younger than 30 days: ${young.length} rows; retention 30d deleted ${expectedRows} rows and ${expectedVersions} versions ` +
        `(dropped requests_2026_08), left ${after.requests} rows = held ${held.length} + on/after the cutoff ${after.requests - held.length}; ` +
        `audit: ${purges.rows.length} retention.purge entries summing ${expectedRows} rows, 1 retention.run`,
    );
  });

  it("leaves the seals consistent: verify passes after the purge", async () => {
    const v = await verifyArchive(f.database.db, { since: null, until: null, projectIds: null, now: T });
    expect(v.changedDays).toEqual([]);
    expect(v.guardProblems).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.daysSealed).toBeGreaterThan(60);
  });

  it("purges the held rows once the hold is released, and a second run finds nothing more", async () => {
    await releaseHold(f.database.db, { holdId: "1", reason: "case closed", now: T, command: "test" });
    const report = await runRetention(deps(), { dryRun: false, command: "retention" });
    expect(report.totals.rows).toBe(held.length);
    expect(report.partitionsDropped).toEqual(["requests_2026_09"]);
    expect(await count(sql`select count(*)::int as n from deepgram_archive.requests where created < ${CUTOFF}`)).toBe(0);
    const again = await runRetention(deps(), { dryRun: false, command: "retention" });
    expect(again.totals).toEqual({ rows: 0, versions: 0, heldRowsKept: 0, sealedRows: 0 });
    expect(again.partitionsDropped).toEqual([]);
    expect((await verifyArchive(f.database.db, { since: null, until: null, projectIds: null, now: T })).ok).toBe(true);
  });
});
