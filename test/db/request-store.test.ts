import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { sql } from "kysely";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { openPostgres, type ArchiveDatabase } from "../../src/db/connection.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { silentLogger } from "../../src/logger.js";
import { upsertRequests } from "../../src/archive/request-store.js";
import { toRequestRow } from "../../src/archive/request-row.js";
import { ensureMonthlyPartitions } from "../../src/archive/partitions.js";
import { declareWriter } from "../../src/retention/writer.js";

let tdb: TestDatabase;
let database: ArchiveDatabase;
const P = "proj-1";

beforeAll(async () => {
  tdb = await createTestDatabase("store");
  database = await openPostgres({ url: tdb.url, target: tdb.name, logger: silentLogger() });
  await migrateToLatest(database.db);
  await ensureMonthlyPartitions(database.db, new Date("2026-03-01T00:00:00Z"), new Date("2026-03-31T00:00:00Z"), silentLogger());
});
afterAll(async () => {
  await database?.close();
  await tdb?.drop();
});

const item = (id: string, created: string, usd: number | string = 0.5) => ({
  request_id: id,
  created,
  path: "/v1/listen?model=nova-3",
  api_key_id: "key-a",
  response: { code: 200, completed: created, details: { usd, duration: 36, total_audio: 36, tags: ["a 'quoted' tag", "日本"] } },
});

const write = (items: Array<Record<string, unknown> & { request_id: string; created: string }>, now: string, timezone = "UTC") =>
  database.db.transaction().execute(async (trx) => {
    // As commitPage does: the guard triggers (migrations/0003) refuse updates from other writers.
    await declareWriter(trx, "archiver");
    return upsertRequests(trx, { projectId: P, rows: items.map(toRequestRow), timezone, now: new Date(now) });
  });

describe("upsertRequests", () => {
  it("inserts new rows with their typed columns and raw item", async () => {
    const r = await write([item("a", "2026-03-08T06:30:00.123456Z"), item("b", "2026-03-08T23:30:00Z")], "2026-03-09T00:00:00Z");
    expect(r).toEqual({ inserted: 2, updated: 0, unchanged: 0 });
    const rows = await sql<{ request_id: string; usd: string; tags: string[]; raw: unknown; created: Date }>`
      select request_id, usd::text, tags, raw, created from deepgram_archive.requests order by request_id`.execute(database.db);
    expect(rows.rows.map((x) => [x.request_id, x.usd, x.tags])).toEqual([
      ["a", "0.5", ["a 'quoted' tag", "日本"]],
      ["b", "0.5", ["a 'quoted' tag", "日本"]],
    ]);
    expect(rows.rows[0]!.raw).toEqual(item("a", "2026-03-08T06:30:00.123456Z"));
  });

  it("changes nothing when the same page arrives again", async () => {
    const before = await sql<{ t: Date }>`select max(last_changed_at) as t from deepgram_archive.requests`.execute(database.db);
    const r = await write([item("a", "2026-03-08T06:30:00.123456Z"), item("b", "2026-03-08T23:30:00Z")], "2026-03-09T01:00:00Z");
    expect(r).toEqual({ inserted: 0, updated: 0, unchanged: 2 });
    const after = await sql<{ t: Date }>`select max(last_changed_at) as t from deepgram_archive.requests`.execute(database.db);
    expect(after.rows[0]!.t).toEqual(before.rows[0]!.t);
  });

  it("updates a changed row and keeps its previous raw as a version", async () => {
    const r = await write([item("a", "2026-03-08T06:30:00.123456Z", "1.25")], "2026-03-09T02:00:00Z");
    expect(r).toEqual({ inserted: 0, updated: 1, unchanged: 0 });
    const versions = await sql<{ raw: { response: { details: { usd: unknown } } }; valid_from: Date; superseded_at: Date }>`
      select raw, valid_from, superseded_at from deepgram_archive.request_versions where request_id = 'a'`.execute(database.db);
    expect(versions.rows).toHaveLength(1);
    expect(versions.rows[0]!.raw.response.details.usd).toBe(0.5);
    expect(versions.rows[0]!.valid_from.toISOString()).toBe("2026-03-09T00:00:00.000Z");
    expect(versions.rows[0]!.superseded_at.toISOString()).toBe("2026-03-09T02:00:00.000Z");
    const cur = await sql<{ usd: string }>`select usd::text from deepgram_archive.requests where request_id = 'a'`.execute(database.db);
    expect(cur.rows[0]!.usd).toBe("1.25");
  });

  it("marks the local day dirty in the configured zone", async () => {
    await sql`delete from deepgram_archive.dirty_days`.execute(database.db);
    // 03:30 UTC on 8 March is still 7 March in New York.
    await write([item("c", "2026-03-08T03:30:00Z"), item("d", "2026-03-08T12:00:00Z")], "2026-03-09T03:00:00Z", "America/New_York");
    const days = await sql<{ day: string }>`select day::text from deepgram_archive.dirty_days where project_id = ${P} order by day`.execute(database.db);
    expect(days.rows.map((d) => d.day)).toEqual(["2026-03-07", "2026-03-08"]);
  });

  it("stores a request listed twice in one page once", async () => {
    const r = await write([item("e", "2026-03-10T00:00:00Z"), item("e", "2026-03-10T00:00:00Z")], "2026-03-11T00:00:00Z");
    expect(r.inserted).toBe(1);
    const n = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests where request_id = 'e'`.execute(database.db);
    expect(n.rows[0]!.n).toBe(1);
  });

  it("puts rows in their monthly partition, not the default one", async () => {
    const n = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests_2026_03`.execute(database.db);
    const d = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests_default`.execute(database.db);
    expect([n.rows[0]!.n, d.rows[0]!.n]).toEqual([5, 0]);
  });

  it("refuses a row with neither its bytes nor its parsed item, and writes nothing of that page", async () => {
    const rows = [toRequestRow(item("whole", "2026-03-09T06:00:00Z")), { ...toRequestRow(item("emptied", "2026-03-09T07:00:00Z")), raw: null }];
    await expect(
      database.db.transaction().execute(async (trx) => {
        await declareWriter(trx, "archiver");
        return upsertRequests(trx, { projectId: P, rows, timezone: "UTC", now: new Date("2026-03-10T00:00:00Z") });
      }),
    ).rejects.toThrow("request emptied: neither its bytes nor its parsed item to store");
    const n = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests where request_id in ('whole', 'emptied')`.execute(database.db);
    expect(n.rows[0]!.n).toBe(0);
  });

  it("stores the same typed columns as toRequestRow, from a page's bytes or from items serialized again", async () => {
    const odd = (id: string): Record<string, unknown> & { request_id: string; created: string } => ({
      request_id: id,
      created: "2026-03-12T10:00:00.5+02:00",
      // Not strings, or empty: null, as toRequestRow reads them.
      path: 42,
      api_key_id: "",
      accessor: { id: "k" },
      deployment: "hosted \u00e9 \"quoted\" 日本",
      endpoint: "speak",
      response: { code: "201", details: { method: "async", models: ["m", 3], usd: "0.25" } },
    });
    const plain = (id: string) => ({ ...item(id, "2026-03-12T11:00:00Z"), accessor: "acc", deployment: "" });
    const columns = `request_id, created, path, endpoint, api_key_id, accessor, deployment, method, code, status, completed,
      duration_seconds, total_audio_seconds, usd, channels, streams, models, tags, features, callback_code`;
    const expected = (items: Array<Record<string, unknown> & { request_id: string; created: string }>) =>
      items.map((i) => {
        const r = toRequestRow(i);
        return { ...r, created: new Date(r.created), completed: r.completed === null ? null : new Date(r.completed), usd: r.usd === null ? null : String(r.usd), raw: undefined };
      });

    const serialized = [odd("s1"), plain("s2")];
    await write(serialized, "2026-03-13T00:00:00Z");
    // Rows as the fetcher hands them on from a page: each with its item's bytes as sent (spacing
    // and number forms kept), one without (serialized here).
    const paged = [odd("p1"), plain("p2"), plain("p3")];
    const sent = ['{ "usd" : 1.50, ' + JSON.stringify(paged[0]).slice(1), JSON.stringify(paged[1]).replace(/,"/g, ',\n "')];
    paged[0] = JSON.parse(sent[0]!);
    const rows = paged.map((i, k) => ({ ...toRequestRow(i), ...(k < 2 ? { raw_source: Buffer.from(sent[k]!, "utf8") } : {}) }));
    await database.db.transaction().execute(async (trx) => {
      await declareWriter(trx, "archiver");
      return upsertRequests(trx, { projectId: P, rows, timezone: "UTC", now: new Date("2026-03-13T00:00:00Z") });
    });

    const stored = await sql<Record<string, unknown>>`
      select ${sql.raw(columns)}, usd::text as usd, raw from deepgram_archive.requests
      where request_id in ('s1', 's2', 'p1', 'p2', 'p3') order by request_id`.execute(database.db);
    const want = [...expected(paged), ...expected(serialized)];
    expect(stored.rows.map((r) => ({ ...r, raw: undefined }))).toEqual(want);
    expect(stored.rows.map((r) => r.raw)).toEqual([...paged, ...serialized]);
    expect(stored.rows[0]!.deployment).toBe('hosted \u00e9 "quoted" 日本');
    // The bytes as sent, not the item serialized again: the number keeps its form.
    const usd = await sql<{ usd: string }>`select raw ->> 'usd' as usd from deepgram_archive.requests where request_id = 'p1'`.execute(database.db);
    expect(usd.rows[0]!.usd).toBe("1.50");
  });
});

describe("upsertRequests on a page expected to be archived (source hash)", () => {
  const Q = "proj-sources";
  type Item = Record<string, unknown> & { request_id: string; created: string };
  const sha = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
  /** Rows as the fetcher passes them: each with its item's bytes as sent. */
  const rowsOf = (texts: string[]) => texts.map((t) => ({ ...toRequestRow(JSON.parse(t) as Item), raw_source: Buffer.from(t, "utf8") }));
  const store = (texts: string[], now: string, expectArchived: boolean) =>
    database.db.transaction().execute(async (trx) => {
      await declareWriter(trx, "archiver");
      return upsertRequests(trx, { projectId: Q, rows: rowsOf(texts), timezone: "UTC", now: new Date(now), expectArchived });
    });
  const stored = async (id: string) =>
    (
      await sql<{ source: string | null; usd: string; changed: Date; versions: number }>`
        select encode(r.source_sha256, 'hex') as source, r.usd::text as usd, r.last_changed_at as changed,
          (select count(*)::int from deepgram_archive.request_versions v where v.project_id = r.project_id and v.request_id = r.request_id) as versions
        from deepgram_archive.requests r where r.project_id = ${Q} and r.request_id = ${id}`.execute(database.db)
    ).rows[0]!;
  const text = (id: string, usd: string, spacing = "") =>
    `{"request_id":"${id}",${spacing}"created":"2026-03-20T10:00:00.000001Z","path":"/v1/listen","response":{"code":200,"details":{"usd":${usd}}}}`;

  it("stores the sha256 of each item's text as sent, or of the item serialized again", async () => {
    const r = await store([text("h1", "0.5"), text("h2", "0.5")], "2026-03-21T00:00:00Z", false);
    expect(r).toEqual({ inserted: 2, updated: 0, unchanged: 0 });
    expect((await stored("h1")).source).toBe(sha(text("h1", "0.5")));
    const serialized = item("h3", "2026-03-20T11:00:00Z");
    await database.db.transaction().execute(async (trx) => {
      await declareWriter(trx, "archiver");
      return upsertRequests(trx, { projectId: Q, rows: [toRequestRow(serialized)], timezone: "UTC", now: new Date("2026-03-21T00:00:00Z") });
    });
    expect((await stored("h3")).source).toBe(sha(JSON.stringify(serialized)));
  });

  it("counts rows whose bytes are the archived ones as unchanged, and stores new and changed rows as before", async () => {
    const r = await store([text("h1", "0.5"), text("h2", "0.75"), text("h4", "1")], "2026-03-21T01:00:00Z", true);
    expect(r).toEqual({ inserted: 1, updated: 1, unchanged: 1 });
    expect(await stored("h1")).toEqual({ source: sha(text("h1", "0.5")), usd: "0.5", changed: new Date("2026-03-21T00:00:00Z"), versions: 0 });
    expect(await stored("h2")).toEqual({ source: sha(text("h2", "0.75")), usd: "0.75", changed: new Date("2026-03-21T01:00:00Z"), versions: 1 });
    expect((await stored("h4")).source).toBe(sha(text("h4", "1")));
  });

  it("compares the content when the bytes differ: a new spacing is no change and keeps the stored hash", async () => {
    const r = await store([text("h1", "0.5", " ")], "2026-03-21T02:00:00Z", true);
    expect(r).toEqual({ inserted: 0, updated: 0, unchanged: 1 });
    expect(await stored("h1")).toEqual({ source: sha(text("h1", "0.5")), usd: "0.5", changed: new Date("2026-03-21T00:00:00Z"), versions: 0 });
  });

  it("trusts the bytes alone: a row whose stored hash matches is not compared or written", async () => {
    // Point h1's stored hash at other bytes (a deliberate override that leaves raw alone keeps it).
    await database.db.transaction().execute(async (trx) => {
      await sql`select set_config('deepgram_archive.writer', 'admin-override: test of the source hash', true)`.execute(trx);
      await sql`update deepgram_archive.requests set source_sha256 = decode(${sha(text("h1", "9"))}, 'hex') where project_id = ${Q} and request_id = 'h1'`.execute(trx);
    });
    expect(await store([text("h1", "9")], "2026-03-21T03:00:00Z", true)).toEqual({ inserted: 0, updated: 0, unchanged: 1 });
    expect((await stored("h1")).usd).toBe("0.5");
    // Without the expectation the content is compared, as in a backfill.
    expect(await store([text("h1", "9")], "2026-03-21T03:00:00Z", false)).toEqual({ inserted: 0, updated: 1, unchanged: 0 });
    expect(await stored("h1")).toEqual({ source: sha(text("h1", "9")), usd: "9", changed: new Date("2026-03-21T03:00:00Z"), versions: 1 });
  });

  it("forgets the hash when anything but the archiver's update changes raw, so a rescan compares the content again", async () => {
    await database.db.transaction().execute(async (trx) => {
      await sql`select set_config('deepgram_archive.writer', 'admin-override: test of the source hash', true)`.execute(trx);
      await sql`update deepgram_archive.requests set raw = raw || '{"edited": true}', content_hash = deepgram_archive.content_hash(raw || '{"edited": true}')
        where project_id = ${Q} and request_id = 'h4'`.execute(trx);
    });
    expect((await stored("h4")).source).toBeNull();
    // Deepgram still lists the original: its content differs from the edited raw, so it is restored and the edit kept as a version.
    expect(await store([text("h4", "1")], "2026-03-21T04:00:00Z", true)).toEqual({ inserted: 0, updated: 1, unchanged: 0 });
    expect(await stored("h4")).toEqual({ source: sha(text("h4", "1")), usd: "1", changed: new Date("2026-03-21T04:00:00Z"), versions: 1 });
    const raw = await sql<{ raw: unknown }>`select raw from deepgram_archive.requests where project_id = ${Q} and request_id = 'h4'`.execute(database.db);
    expect(raw.rows[0]!.raw).toEqual(JSON.parse(text("h4", "1")));
  });
});
