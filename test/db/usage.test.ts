import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createLogger } from "../../src/logger.js";
import { storeApiKeys } from "../../src/usage/api-key-store.js";
import { fetchVendorData, utcDay } from "../../src/usage/vendor-fetch.js";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";

const H = 3_600_000;
const DAY = 86_400_000;
const logLines: string[] = [];
let f: ArchiveFixture;

beforeAll(async () => {
  const logger = createLogger({ level: "warn", destination: { write: (line: string) => void logLines.push(line) } });
  // Day-wide windows and few records: this file is about /usage and /keys, not paging.
  f = await createArchiveFixture("usage", { sim: { perDay: 10 }, settings: { windowMs: DAY, usageSinceDays: 30 }, logger });
});
afterAll(async () => {
  await f?.close();
});

interface VendorRow {
  day: string;
  requests: number;
  hours: number;
  total_hours: number;
  tokens_in: number;
  tokens_out: number;
  tts_characters: number;
  tts_requests: number;
  raw: Record<string, unknown>;
  fetched_at: Date;
  changed_at: Date;
  version: string;
}
const vendorRows = async (projectId: string) =>
  (
    await sql<VendorRow>`
      select day::text as day, requests::int as requests, hours, total_hours, tokens_in::int as tokens_in, tokens_out::int as tokens_out,
        tts_characters::int as tts_characters, tts_requests::int as tts_requests, raw, fetched_at, changed_at, xmin::text as version
      from deepgram_archive.vendor_daily_usage where project_id = ${projectId} order by day`.execute(f.database.db)
  ).rows;

describe("Deepgram's daily usage and key labels", () => {
  it("are archived back ARCHIVER_USAGE_SINCE days on a project's first pass, figure for figure", async () => {
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const today = utcDay(f.clock.now().getTime());
    for (const p of f.sim.projects()) {
      const rows = await vendorRows(p.project_id);
      expect(rows.map((r) => r.day)).toEqual(Array.from({ length: 31 }, (_, i) => utcDay(f.clock.now().getTime() - (30 - i) * DAY)));
      expect(rows[30]!.day).toBe(today);
      for (const r of rows) {
        const truth = f.sim.usageDay(p.project_id, r.day);
        expect([r.requests, r.hours, r.total_hours]).toEqual([truth.requests, truth.hours, truth.total_hours]);
        const raw = r.raw as { start: string; tokens: { in: number; out: number }; tts: { characters: number; requests: number } };
        expect(raw.start).toBe(r.day);
        expect([r.tokens_in, r.tokens_out, r.tts_characters, r.tts_requests]).toEqual([raw.tokens.in, raw.tokens.out, raw.tts.characters, raw.tts.requests]);
        expect(r.changed_at).toEqual(r.fetched_at);
      }
      expect(rows.some((r) => r.tts_requests > 0 && r.tokens_in > 0)).toBe(true);
    }
    expect(report.projects.map((p) => [p.usageDays, p.usageDaysChanged])).toEqual([
      [31, 31],
      [31, 31],
    ]);
  });

  it("then asks only for the recent days, and rewrites a day only when Deepgram's figures changed", async () => {
    const [p1] = f.sim.projects();
    const before = await vendorRows(p1!.project_id);
    const firstFetch = before[0]!.fetched_at;
    f.clock.advance(H);
    const yesterday = utcDay(f.clock.now().getTime() - DAY);
    f.sim.control.overReportUsage(p1!.project_id, yesterday, 3);
    const report = await f.sync();
    // ARCHIVER_RESCAN 72h: the last 3 days plus one, and today.
    expect(report.projects.map((p) => p.usageDays)).toEqual([5, 5]);
    const after = await vendorRows(p1!.project_id);
    expect(after.length).toBe(31);
    for (const [i, row] of after.entries()) {
      const old = before[i]!;
      if (row.day === yesterday) {
        expect(row.requests).toBe(old.requests + 3);
        expect([row.fetched_at, row.changed_at]).toEqual([firstFetch, f.clock.now()]);
        expect(row.version).not.toBe(old.version);
      } else {
        expect(row).toEqual(old); // not even rewritten: same xmin
      }
    }
  });

  it("keep every key's comment, scopes, tags and dates, but no member e-mail", async () => {
    for (const p of f.sim.projects()) {
      const rows = await sql<{ api_key_id: string; comment: string; scopes: string[]; tags: string[]; created: Date; expiration_date: Date | null; deleted_at: Date | null }>`
        select api_key_id, comment, scopes, tags, created, expiration_date, deleted_at from deepgram_archive.api_keys
        where project_id = ${p.project_id} order by api_key_id`.execute(f.database.db);
      const expected = f.sim
        .keys(p.project_id)
        .map((k) => ({
          api_key_id: k.api_key_id,
          comment: k.comment,
          scopes: k.scopes,
          tags: k.tags,
          created: new Date(Date.parse(k.created)),
          expiration_date: k.expiration_date === null ? null : new Date(Date.parse(k.expiration_date)),
          deleted_at: null,
        }))
        .sort((a, b) => (a.api_key_id < b.api_key_id ? -1 : 1));
      expect(rows.rows).toEqual(expected);
    }
    const everything = await sql<{ j: string }>`select row_to_json(k)::text as j from deepgram_archive.api_keys k`.execute(f.database.db);
    expect(everything.rows.length).toBe(10);
    expect(everything.rows.filter((r) => r.j.includes("@"))).toEqual([]);
  });

  it("keep a key Deepgram no longer lists, marked deleted, and undelete it when it is listed again", async () => {
    const [p1] = f.sim.projects();
    const keys = f.sim.keys(p1!.project_id).map((k) => ({ ...k, expiration_date: k.expiration_date }));
    const gone = keys[0]!.api_key_id;
    const now = new Date("2026-11-21T00:00:00Z");
    expect(await storeApiKeys(f.database.db, p1!.project_id, keys.slice(1), now)).toEqual({ listed: 4, deleted: 1 });
    const deleted = await sql<{ api_key_id: string; deleted_at: Date; comment: string }>`
      select api_key_id, deleted_at, comment from deepgram_archive.api_keys where deleted_at is not null`.execute(f.database.db);
    expect(deleted.rows).toEqual([{ api_key_id: gone, deleted_at: now, comment: keys[0]!.comment }]);
    expect(await storeApiKeys(f.database.db, p1!.project_id, keys, now)).toEqual({ listed: 5, deleted: 0 });
    const count = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.api_keys where deleted_at is not null`.execute(f.database.db);
    expect(count.rows[0]!.n).toBe(0);
  });

  it("warn once per pass when the key may not list keys, and go on", async () => {
    // Last in this file: a forbidden project stays forbidden.
    const projects = f.sim.projects();
    for (const p of projects) f.sim.control.forbidProject(p.project_id);
    const pass = { keysForbiddenWarned: false };
    const before = logLines.length;
    const results = [];
    for (const p of projects) {
      results.push(await fetchVendorData({ db: f.database.db, client: f.client, logger: f.logger }, p.project_id, { now: f.clock.now(), rescanMs: 72 * H, usageSinceDays: 30 }, pass));
    }
    expect(results.map((r) => [r.keys, r.usageError !== null])).toEqual([
      [null, true],
      [null, true],
    ]);
    const warnings = logLines.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(warnings.filter((w) => w.msg.includes("keys:read")).length).toBe(1);
    expect(warnings.find((w) => w.msg.includes("keys:read"))!.level).toBe(40);
    // The labels archived before stay.
    const kept = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.api_keys where deleted_at is null`.execute(f.database.db);
    expect(kept.rows[0]!.n).toBe(10);
  });
});
