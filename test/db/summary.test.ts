import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { HORIZON_MS } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { summarize } from "../../src/summary/summarizer.js";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { runCli } from "../helpers/cli.js";
import { aggregateRollups, loadRollups, loadTotals, localDay, totalsOf, type RollupRow } from "../helpers/usage-truth.js";

const NY = "America/New_York";
let f: ArchiveFixture;
let firstPassAt: number;

beforeAll(async () => {
  f = await createArchiveFixture("summary", { sim: { perDay: 30 } });
  firstPassAt = f.clock.now().getTime();
});
afterAll(async () => {
  await f?.close();
});

/** The records the archive must hold: visible at the first pass or later, in a settled window. */
function archivedTruth(projectId: string) {
  const settledEnd = Math.floor((f.clock.now().getTime() - f.settings.settleMs) / f.settings.windowMs) * f.settings.windowMs;
  return f.sim.truth(projectId).filter((t) => {
    const at = Date.parse(t.created);
    return at >= firstPassAt - HORIZON_MS && at < settledEnd;
  });
}

const expectedRollups = (zone: string): RollupRow[] =>
  f.sim
    .projects()
    .flatMap((p) => aggregateRollups(p.project_id, archivedTruth(p.project_id), zone))
    .sort((a, b) => (JSON.stringify(Object.values(a).slice(0, 7)) < JSON.stringify(Object.values(b).slice(0, 7)) ? -1 : 1));

const sortLike = (rows: RollupRow[]) => [...rows].sort((a, b) => (JSON.stringify(Object.values(a).slice(0, 7)) < JSON.stringify(Object.values(b).slice(0, 7)) ? -1 : 1));

/** Where each rollup row physically is and which transaction wrote it: any rewrite changes one of them. */
async function physical(): Promise<{ usage: string; tags: string; md5: string }> {
  const r = await sql<{ usage: string; tags: string; md5: string }>`
    select
      (select string_agg(ctid::text || ':' || xmin::text, ',' order by project_id, day, api_key_id, endpoint, method, model, status) from deepgram_archive.daily_usage) as usage,
      (select string_agg(ctid::text || ':' || xmin::text, ',' order by project_id, day, tag) from deepgram_archive.daily_usage_by_tag) as tags,
      (select md5(string_agg(u::text, E'\\n' order by project_id, day, api_key_id, endpoint, method, model, status)) from deepgram_archive.daily_usage u) as md5`.execute(f.database.db);
  return r.rows[0]!;
}

const dirtyCount = async () => (await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.dirty_days`.execute(f.database.db)).rows[0]!.n;
const markEveryDayDirty = () =>
  sql`insert into deepgram_archive.dirty_days (project_id, day, marked_at) select distinct project_id, day, now() from deepgram_archive.daily_usage on conflict do nothing`.execute(
    f.database.db,
  );
const cliEnv = (zone: string) => ({ DATABASE_URL: f.tdb.url!, ARCHIVER_TIMEZONE: zone, LOG_LEVEL: "warn" });

describe("the daily rollups", () => {
  it("equal an independent aggregation of the simulator's truth for every project-day in UTC after a pass", async () => {
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));
    expect(report.summary).toMatchObject({ timezone: "UTC", full: true, rowsUpdated: 0, rowsDeleted: 0, dirtyRemaining: 0 });

    const expected = expectedRollups("UTC");
    expect(sortLike(await loadRollups(f.database.db))).toEqual(expected);
    const totals = await loadTotals(f.database.db);
    expect(totals).toEqual(totalsOf(expected));
    // 2 projects x 91 UTC days (the day the horizon cuts, 89 whole days, the day of the pass).
    expect(totals.length).toBe(182);
    const records = totals.reduce((a, t) => a + t.requests, 0);
    expect(records).toBe(f.sim.projects().reduce((a, p) => a + archivedTruth(p.project_id).length, 0));
    expect(await dirtyCount()).toBe(0);
    console.info(`UTC: ${totals.length} project-days, ${expected.length} rollup rows, ${records} requests: daily_usage_totals equals the truth`);
  });

  it("change no row at all when summarized again, dirty or rebuilt", async () => {
    const before = await physical();
    await markEveryDayDirty();
    expect(await dirtyCount()).toBe(182);
    const drained = await summarize(f.database.db, { timezone: "UTC", now: f.clock.now() });
    expect(drained).toMatchObject({ mode: "drain", days: 182, daysChanged: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0, dirtyRemaining: 0 });
    expect(await physical()).toEqual(before);
    const rebuilt = await summarize(f.database.db, { timezone: "UTC", now: f.clock.now(), rebuild: true });
    expect(rebuilt).toMatchObject({ mode: "rebuild", full: true, daysChanged: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0 });
    expect(await physical()).toEqual(before);
    console.info(`no-op summarize and summarize --rebuild: daily_usage md5 ${before.md5}, ctid/xmin unchanged`);
  });

  it("build days side by side to the same rows; a day that fails stops the run with its error, its mark kept", async () => {
    const before = await physical();
    const rebuilt = await summarize(f.database.db, { timezone: "UTC", now: f.clock.now(), rebuild: true, concurrency: 4 });
    expect(rebuilt).toMatchObject({ mode: "rebuild", days: 182, daysChanged: 0, rowsInserted: 0, rowsUpdated: 0, rowsDeleted: 0 });
    expect(await physical()).toEqual(before);

    // One day's transaction fails where it clears its mark; the days already built stay built.
    const [p1] = f.sim.projects();
    const failing = (await loadTotals(f.database.db)).filter((t) => t.project_id === p1!.project_id)[45]!.day;
    await sql`create function public.test_refuse_day() returns trigger language plpgsql as $$
      begin if old.day = ${sql.lit(failing)}::date then raise exception 'test: refusing day %', old.day; end if; return old; end $$`.execute(f.database.db);
    await sql.raw(`create trigger refuse_day before delete on deepgram_archive.dirty_days for each row execute function public.test_refuse_day()`).execute(f.database.db);
    try {
      await markEveryDayDirty();
      await expect(summarize(f.database.db, { timezone: "UTC", now: f.clock.now(), concurrency: 4 })).rejects.toThrow(`test: refusing day ${failing}`);
      const left = await sql<{ project_id: string; day: string }>`select project_id, day::text as day from deepgram_archive.dirty_days`.execute(f.database.db);
      expect(left.rows).toContainEqual({ project_id: p1!.project_id, day: failing });
      // Workers stop taking days after the failure; at most the three others in flight finish.
      expect(left.rows.length).toBeGreaterThan(1);
      expect(left.rows.length).toBeLessThan(182);
    } finally {
      await sql`drop trigger refuse_day on deepgram_archive.dirty_days`.execute(f.database.db);
      await sql`drop function public.test_refuse_day()`.execute(f.database.db);
    }
    expect(await summarize(f.database.db, { timezone: "UTC", now: f.clock.now(), concurrency: 4 })).toMatchObject({ daysChanged: 0, dirtyRemaining: 0 });
    expect(await physical()).toEqual(before);
  });

  it("refuse a pass or a summarize in another zone, with exit 2 naming summarize --rebuild", async () => {
    f.settings.timezone = NY;
    try {
      await expect(f.sync()).rejects.toThrow(ConfigError);
      await expect(f.sync()).rejects.toThrow(/summarize --rebuild/);
    } finally {
      f.settings.timezone = "UTC";
    }
    await expect(summarize(f.database.db, { timezone: NY, now: f.clock.now() })).rejects.toThrow(/summarize --rebuild/);
    await expect(summarize(f.database.db, { timezone: NY, now: f.clock.now(), rebuild: true, since: "2026-10-01" })).rejects.toThrow(/without --since\/--until/);
    const r = await runCli(["summarize"], cliEnv(NY));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("`deepgram-archiver summarize --rebuild`");
    expect(r.stdout).toBe("");
  });

  it("rebuilt with America/New_York equal the same aggregation by New York days, including the 25-hour 1 November", async () => {
    const r = await runCli(["summarize", "--rebuild"], cliEnv(NY));
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toMatch(/^rebuilt every day in America\/New_York \(the rollups were in UTC\): \d+ days, \d+ changed/);
    const zone = await sql<{ timezone: string; rebuilt: boolean }>`select timezone, rebuilt_at is not null as rebuilt from deepgram_archive.summary_settings`.execute(f.database.db);
    expect(zone.rows).toEqual([{ timezone: NY, rebuilt: true }]);

    const expected = expectedRollups(NY);
    expect(sortLike(await loadRollups(f.database.db))).toEqual(expected);
    const totals = await loadTotals(f.database.db);
    expect(totals).toEqual(totalsOf(expected));
    expect(new Set(totals.map((t) => t.day)).size).toBe(91);

    // 2026-11-01 in New York runs from 04:00Z to 05:00Z the next day: 25 hours.
    for (const p of f.sim.projects()) {
      const inDay = archivedTruth(p.project_id).filter((t) => t.created >= "2026-11-01T04:00:00" && t.created < "2026-11-02T05:00:00");
      expect(inDay.length).toBeGreaterThan(0);
      expect(inDay.every((t) => localDay(t.created, NY) === "2026-11-01")).toBe(true);
      expect(totals.find((t) => t.project_id === p.project_id && t.day === "2026-11-01")!.requests).toBe(inDay.length);
    }

    const before = await physical();
    await markEveryDayDirty();
    expect(await summarize(f.database.db, { timezone: NY, now: f.clock.now() })).toMatchObject({ days: 182, daysChanged: 0 });
    expect(await summarize(f.database.db, { timezone: NY, now: f.clock.now(), rebuild: true })).toMatchObject({ full: true, daysChanged: 0 });
    expect(await physical()).toEqual(before);
    expect(await dirtyCount()).toBe(0);
    console.info(`America/New_York: ${totals.length} project-days equal the truth; summarize and --rebuild again: md5 ${before.md5}, ctid/xmin unchanged`);
  });

  it("rebuilds a summarized day made dirty again by late records, and only the days they touched", async () => {
    f.settings.timezone = NY;
    f.clock.advance(3_600_000);
    const [p1] = f.sim.projects();
    const before = await loadRollups(f.database.db);
    const late = f.sim.control.addLate(12, { projectId: p1!.project_id, withinHours: 30 });
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const settledEnd = Math.floor((f.clock.now().getTime() - f.settings.settleMs) / f.settings.windowMs) * f.settings.windowMs;
    const lateDays = new Set(late.filter((l) => Date.parse(l.created) < settledEnd).map((l) => localDay(l.created, NY)));
    expect(lateDays.size).toBeGreaterThan(0);
    // Those days had rollups already; the pass marked them dirty and rebuilt them.
    for (const day of lateDays) expect(before.some((r) => r.project_id === p1!.project_id && r.day === day)).toBe(true);
    expect(report.summary).toMatchObject({ mode: "drain", timezone: NY, dirtyRemaining: 0 });
    expect(report.summary!.daysChanged).toBeGreaterThanOrEqual(lateDays.size);
    expect(sortLike(await loadRollups(f.database.db))).toEqual(expectedRollups(NY));
    expect(await dirtyCount()).toBe(0);
  });

  it("count each distinct request tag once per day, untagged requests under ''", async () => {
    const rows = await sql<{ project_id: string; day: string; tag: string; requests: number }>`
      select project_id, day::text as day, tag, requests::int as requests from deepgram_archive.daily_usage_by_tag`.execute(f.database.db);
    const expected = new Map<string, number>();
    for (const p of f.sim.projects()) {
      for (const t of archivedTruth(p.project_id)) {
        const details = (t.response as { details?: { tags?: string[] } } | null)?.details;
        const tags = [...new Set(details?.tags ?? [])];
        for (const tag of tags.length ? tags : [""]) {
          const key = `${p.project_id}|${localDay(t.created, NY)}|${tag}`;
          expected.set(key, (expected.get(key) ?? 0) + 1);
        }
      }
    }
    expect(new Map(rows.rows.map((r) => [`${r.project_id}|${r.day}|${r.tag}`, r.requests]))).toEqual(expected);
  });
});
