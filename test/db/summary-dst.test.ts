import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { silentLogger } from "../../src/logger.js";
import { upsertRequests } from "../../src/archive/request-store.js";
import { toRequestRow } from "../../src/archive/request-row.js";
import { summarize } from "../../src/summary/summarizer.js";
import { reconcile } from "../../src/usage/reconcile.js";
import { storeVendorUsage } from "../../src/usage/vendor-usage-store.js";
import { ENGINES, openEngineDatabase, type EngineDatabase } from "../helpers/engines.js";

const NY = "America/New_York";
const P = "proj-dst";

const item = (id: string, created: string, extra: { usd?: number; tags?: string[]; code?: number } = {}) => ({
  request_id: id,
  created,
  path: "/v1/listen?model=nova-3",
  api_key_id: "key-a",
  // A failed request carries a message and no details, as Deepgram's do.
  response:
    extra.code !== undefined
      ? { code: extra.code, completed: created, message: "Service unavailable" }
      : { code: 200, completed: created, details: { usd: extra.usd ?? 0.25, duration: 36, total_audio: 72, method: "sync", models: ["m-uuid"], config: { model: "nova-3" }, tags: extra.tags ?? [] } },
});

// Around the two 2026 changes in New York: 8 March has 23 hours, 1 November 25.
const ITEMS = [
  item("m1", "2026-03-08T04:59:59.999999Z"), // 7 March 23:59:59.999999 EST
  item("m2", "2026-03-08T05:00:00Z"), // 8 March 00:00 EST
  item("m3", "2026-03-08T06:59:59Z"), // 01:59:59 EST, just before the clocks jump
  item("m4", "2026-03-08T07:00:00Z", { tags: ["team-a", "team-b", "team-a"] }), // 03:00 EDT; team-a twice counts once
  item("m5", "2026-03-09T03:59:59.999999Z"), // 8 March 23:59:59.999999 EDT
  item("m6", "2026-03-09T04:00:00Z"), // 9 March 00:00 EDT
  item("n1", "2026-11-01T03:59:59Z"), // 31 October 23:59:59 EDT
  item("n2", "2026-11-01T04:00:00Z"), // 1 November 00:00 EDT
  item("n3", "2026-11-01T05:30:00Z", { code: 503 }), // 01:30 EDT
  item("n4", "2026-11-01T06:30:00Z"), // 01:30 EST, the hour that happens twice
  item("n5", "2026-11-02T04:59:59Z"), // 1 November 23:59:59 EST
  item("n6", "2026-11-02T05:00:00Z"), // 2 November 00:00 EST
];

describe.each(ENGINES)("day rollups across daylight-saving changes on %s", (engine) => {
  let e: EngineDatabase;
  const db = () => e.database.db;
  const write = (items: ReturnType<typeof item>[], now: string) =>
    db()
      .transaction()
      .execute(async (trx) => {
        await sql`select set_config('deepgram_archive.writer', 'archiver', true)`.execute(trx);
        return upsertRequests(trx, { projectId: P, rows: items.map(toRequestRow), timezone: NY, now: new Date(now) });
      });
  const totals = async () =>
    (
      await sql<{ day: string; requests: number; failed: number; hours: number; usd: string }>`
        select day::text as day, requests::int as requests, failed::int as failed, hours, usd::text as usd
        from deepgram_archive.daily_usage_totals order by day`.execute(db())
    ).rows;
  const physical = async () =>
    (await sql<{ p: string }>`select string_agg(day::text || ' ' || ctid::text || ' ' || xmin::text, ';' order by day, status) as p from deepgram_archive.daily_usage`.execute(db())).rows[0]!.p;

  beforeAll(async () => {
    e = await openEngineDatabase(engine, `dst_${engine}`, silentLogger());
  });
  afterAll(async () => {
    await e?.drop();
  });

  it("puts each request in its New York day: 23 hours on 8 March, 25 on 1 November", async () => {
    const lengths = await sql<{ march: number; november: number }>`
      select extract(epoch from ('2026-03-09'::date::timestamp at time zone ${NY}) - ('2026-03-08'::date::timestamp at time zone ${NY}))::int / 3600 as march,
             extract(epoch from ('2026-11-02'::date::timestamp at time zone ${NY}) - ('2026-11-01'::date::timestamp at time zone ${NY}))::int / 3600 as november`.execute(db());
    expect(lengths.rows[0]).toEqual({ march: 23, november: 25 });

    await write(ITEMS, "2026-11-03T00:00:00Z");
    const report = await summarize(db(), { timezone: NY, now: new Date("2026-11-03T00:00:00Z") });
    expect(report).toMatchObject({ full: true, rowsInserted: 15, dirtyRemaining: 0 });
    expect(await totals()).toEqual([
      { day: "2026-03-07", requests: 1, failed: 0, hours: 0.01, usd: "0.25" },
      { day: "2026-03-08", requests: 4, failed: 0, hours: 0.04, usd: "1.00" },
      { day: "2026-03-09", requests: 1, failed: 0, hours: 0.01, usd: "0.25" },
      { day: "2026-10-31", requests: 1, failed: 0, hours: 0.01, usd: "0.25" },
      // The failed request has no details: it counts, with no audio and no cost.
      { day: "2026-11-01", requests: 4, failed: 1, hours: 0.03, usd: "0.75" },
      { day: "2026-11-02", requests: 1, failed: 0, hours: 0.01, usd: "0.25" },
    ]);
    const dims = await sql<{ day: string; api_key_id: string; endpoint: string; method: string; model: string; status: string; requests: number }>`
      select day::text as day, api_key_id, endpoint, method, model, status, requests::int as requests
      from deepgram_archive.daily_usage where day = '2026-11-01' order by status`.execute(db());
    expect(dims.rows).toEqual([
      { day: "2026-11-01", api_key_id: "key-a", endpoint: "listen", method: "", model: "", status: "failed", requests: 1 },
      { day: "2026-11-01", api_key_id: "key-a", endpoint: "listen", method: "sync", model: "nova-3", status: "succeeded", requests: 3 },
    ]);
    const tags = await sql<{ tag: string; requests: number }>`
      select tag, requests::int as requests from deepgram_archive.daily_usage_by_tag where day = '2026-03-08' order by tag`.execute(db());
    expect(tags.rows).toEqual([
      { tag: "", requests: 3 },
      { tag: "team-a", requests: 1 },
      { tag: "team-b", requests: 1 },
    ]);
  });

  it("rebuilds only the day a late or changed record makes dirty again, leaving every other row untouched", async () => {
    const before = await physical();
    const untouched = (p: string) => p.split(";").filter((x) => !x.startsWith("2026-03-08"));
    await write([item("late", "2026-03-08T15:00:00Z"), item("m2", "2026-03-08T05:00:00Z", { usd: 0.5 })], "2026-11-04T00:00:00Z");
    const dirty = await sql<{ day: string }>`select day::text as day from deepgram_archive.dirty_days`.execute(db());
    expect(dirty.rows).toEqual([{ day: "2026-03-08" }]);
    const report = await summarize(db(), { timezone: NY, now: new Date("2026-11-04T00:00:00Z") });
    expect(report).toMatchObject({ mode: "drain", days: 1, daysChanged: 1, rowsInserted: 0, rowsUpdated: 2, rowsDeleted: 0, dirtyRemaining: 0 });
    expect((await totals()).find((t) => t.day === "2026-03-08")).toEqual({ day: "2026-03-08", requests: 5, failed: 0, hours: 0.05, usd: "1.50" });
    expect(untouched(await physical())).toEqual(untouched(before));
    // And nothing is written when the day is summarized again unchanged.
    const settled = await physical();
    await sql`insert into deepgram_archive.dirty_days (project_id, day) values (${P}, '2026-03-08')`.execute(db());
    expect(await summarize(db(), { timezone: NY, now: new Date("2026-11-04T01:00:00Z") })).toMatchObject({ days: 1, daysChanged: 0, dirtyRemaining: 0 });
    expect(await physical()).toBe(settled);
  });

  it("moves every day to UTC on a full rebuild and drops the New York days that no longer exist", async () => {
    // Three days at once: on PGlite too, where the transactions take turns on its one connection.
    const report = await summarize(db(), { timezone: "UTC", now: new Date("2026-11-05T00:00:00Z"), rebuild: true, concurrency: 3 });
    expect(report).toMatchObject({ full: true, previousTimezone: NY });
    expect((await totals()).map((t) => [t.day, t.requests])).toEqual([
      ["2026-03-08", 5],
      ["2026-03-09", 2],
      ["2026-11-01", 4],
      ["2026-11-02", 2],
    ]);
  });

  it("keeps the rollups of days whose request logs retention removed when everything is rebuilt", async () => {
    await db()
      .transaction()
      .execute(async (trx) => {
        await sql`select set_config('deepgram_archive.writer', 'retention', true)`.execute(trx);
        await sql`delete from deepgram_archive.requests where project_id = ${P} and created < '2026-10-01'`.execute(trx);
      });
    const before = await totals();
    const report = await summarize(db(), { timezone: "UTC", now: new Date("2026-11-05T01:00:00Z"), rebuild: true });
    expect(report).toMatchObject({ full: true, days: 2, daysChanged: 0, keptDays: 2 });
    expect(await totals()).toEqual(before);
    // Put the March rows back for the reconciliation test below.
    await write(ITEMS.slice(0, 6), "2026-11-05T02:00:00Z");
    await write([item("late", "2026-03-08T15:00:00Z"), item("m2", "2026-03-08T05:00:00Z", { usd: 0.5 })], "2026-11-05T02:00:00Z");
    expect(await summarize(db(), { timezone: "UTC", now: new Date("2026-11-05T03:00:00Z") })).toMatchObject({ daysChanged: 0 });
  });

  it("reconciles by UTC day: ok, mismatch beyond 0.1% of the hours, partial without complete windows, no vendor data", async () => {
    const usage = (day: string, requests: number, hours: number) => ({ start: day, end: day, requests, hours, total_hours: hours, tokens_in: null, tokens_out: null, tts_characters: null, tts_requests: null, raw: { start: day, requests, hours } });
    await storeVendorUsage(db(), P, [usage("2026-03-07", 0, 0), usage("2026-03-08", 5, 0.05), usage("2026-03-09", 2, 0.02), usage("2026-11-01", 4, 0.0300299)], new Date("2026-11-05T00:00:00Z"));
    // Complete windows cover 8 March and 1 November (UTC) whole; 7 and 9 March are not covered.
    await sql`
      insert into deepgram_archive.sync_windows (project_id, window_start, window_end, state, first_fetched_at)
      values (${P}, '2026-03-08T00:00:00Z', '2026-03-08T12:00:00Z', 'complete', '2026-03-10T00:00:00Z'),
             (${P}, '2026-03-08T12:00:00Z', '2026-03-09T00:00:00Z', 'complete', '2026-03-10T00:00:00Z'),
             (${P}, '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', 'complete', '2026-11-03T00:00:00Z')`.execute(db());
    const now = new Date("2026-11-05T00:00:00Z");
    const statuses = async () => (await reconcile(db(), { now })).rows.map((r) => [r.day, r.status, r.archived_requests, r.vendor_requests]);
    expect(await statuses()).toEqual([
      ["2026-03-07", "partial", 0, 0],
      ["2026-03-08", "ok", 5, 5],
      ["2026-03-09", "partial", 2, 2],
      ["2026-11-01", "ok", 4, 4], // 0.03 h against 0.0300299 h: within 0.1%
      ["2026-11-02", "no_vendor_data", 2, null],
    ]);
    await storeVendorUsage(db(), P, [usage("2026-11-01", 4, 0.0300301)], now);
    await storeVendorUsage(db(), P, [usage("2026-03-08", 6, 0.05)], now);
    expect((await statuses()).filter((s) => s[1] === "mismatch").map((s) => s[0])).toEqual(["2026-03-08", "2026-11-01"]);
  });
});
