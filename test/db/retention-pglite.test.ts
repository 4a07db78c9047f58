import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { addHold, exportArchive, releaseHold, runRetention, verifyArchive, verifyExportFile, type RetentionConfig } from "../../src/retention/index.js";

// The compliance features on the embedded engine (PGlite: Postgres 17 in WASM), one database for
// all of them since an embedded database costs seconds to start.
const DAY_MS = 86_400_000;
const T = new Date("2026-11-20T12:20:00Z");
const POLICY: RetentionConfig = {
  retention: { kind: "duration", ms: 15 * DAY_MS, text: "15d" },
  rollupRetention: { kind: "forever" },
  timezone: "UTC",
  rescanMs: 72 * 3_600_000,
};

let f: ArchiveFixture;
let dir: string;
const count = async (where: ReturnType<typeof sql>) =>
  (await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests where ${where}`.execute(f.database.db)).rows[0]!.n;
const verify = () => verifyArchive(f.database.db, { since: null, until: null, projectIds: null, now: f.clock.now() });

beforeAll(async () => {
  f = await createArchiveFixture("compliance_pglite", { engine: "pglite", now: T.toISOString(), sim: { days: 45, perDay: 24, projects: 1 }, settings: { windowMs: DAY_MS } });
  expect((await f.sync()).outcome).toBe("succeeded");
  dir = mkdtempSync(join(tmpdir(), "dga-pglite-export-"));
}, 240_000);
afterAll(async () => {
  await f?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("compliance on the embedded engine", () => {
  it("seals the days past the rescan horizon and verifies them", async () => {
    const v = await verify();
    expect([v.ok, v.daysSealed, v.daysIntact, v.guardProblems]).toEqual([true, 42, 42, []]);
  });

  it("refuses ad-hoc edits, audits an override, and verify names the row it changed", async () => {
    const db = f.database.db;
    for (const statement of [sql`update deepgram_archive.requests set usd = 0`, sql`delete from deepgram_archive.requests`, sql`truncate deepgram_archive.requests_2026_10`]) {
      await expect(statement.execute(db)).rejects.toThrow(/deepgram_archive\.requests refuses (UPDATE|DELETE|TRUNCATE) outside the archiver/);
    }
    const { request_id: victim, api_key_id: key } = (
      await sql<{ request_id: string; api_key_id: string | null }>`
        select request_id, api_key_id from deepgram_archive.requests where created < '2026-11-01' order by request_id limit 1`.execute(db)
    ).rows[0]!;
    await db.transaction().execute(async (trx) => {
      await sql`select set_config('deepgram_archive.writer', 'admin-override: test', true)`.execute(trx);
      await sql`update deepgram_archive.requests set api_key_id = 'someone-else' where request_id = ${victim}`.execute(trx);
    });
    const v = await verify();
    expect(v.ok).toBe(false);
    expect(v.changedDays.flatMap((d) => d.changes.map((c) => [c.requestId, c.kind, c.override?.reason]))).toEqual([[victim, "columns_changed", "test"]]);
    await db.transaction().execute(async (trx) => {
      await sql`select set_config('deepgram_archive.writer', 'admin-override: undo test', true)`.execute(trx);
      await sql`update deepgram_archive.requests set api_key_id = ${key} where request_id = ${victim}`.execute(trx);
    });
    expect((await verify()).ok).toBe(true);
  });

  it("applies retention around a legal hold, then drops the partition once the hold is released", async () => {
    await addHold(f.database.db, { projectId: null, since: new Date("2026-10-10T00:00:00Z"), until: new Date("2026-10-13T00:00:00Z"), reason: "hold", now: T, command: "test" });
    const held = await count(sql`created >= '2026-10-10' and created < '2026-10-13'`);
    const young = await count(sql`created >= '2026-11-05'`);
    const dry = await runRetention({ database: f.database, clock: f.clock, logger: f.logger, config: POLICY }, { dryRun: true, command: "test" });
    expect(dry.partitionsDropped).toEqual(["requests_2026_08", "requests_2026_09"]);
    const report = await runRetention({ database: f.database, clock: f.clock, logger: f.logger, config: POLICY }, { dryRun: false, command: "test" });
    expect(report.totals.rows).toBe(dry.totals.rows);
    expect([await count(sql`created < '2026-11-05'`), await count(sql`created >= '2026-11-05'`)]).toEqual([held, young]);
    expect((await verify()).ok).toBe(true);

    const hold = (await sql<{ id: string }>`select hold_id::text as id from deepgram_archive.legal_holds`.execute(f.database.db)).rows[0]!.id;
    await releaseHold(f.database.db, { holdId: hold, reason: "done", now: T, command: "test" });
    const after = await runRetention({ database: f.database, clock: f.clock, logger: f.logger, config: POLICY }, { dryRun: false, command: "test" });
    expect([after.totals.rows, after.partitionsDropped]).toEqual([held, ["requests_2026_10"]]);
    expect(await count(sql`created < '2026-11-05'`)).toBe(0);
    expect((await verify()).ok).toBe(true);
  });

  it("exports a week through a server-side cursor, 50 rows a batch, matching the archive and its manifest", async () => {
    const out = join(dir, "week.jsonl");
    const since = new Date("2026-11-10T00:00:00Z");
    const until = new Date("2026-11-17T00:00:00Z");
    const m = await exportArchive(f.database.db, { since, until, given: { since: "2026-11-10", until: "2026-11-16" }, timezone: "UTC", format: "jsonl", projectIds: null, out, now: T, batchRows: 50 });
    const ids = await sql<{ request_id: string }>`
      select request_id from deepgram_archive.requests where created >= ${since} and created < ${until} order by created, project_id, request_id collate "C"`.execute(f.database.db);
    expect(ids.rows.length).toBeGreaterThan(150);
    const lines = readFileSync(out, "utf8").trimEnd().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { request_id: string }).request_id)).toEqual(ids.rows.map((r) => r.request_id));
    expect(m.rows).toBe(ids.rows.length);
    expect(await verifyExportFile(out)).toMatchObject({ ok: true, actual: { rows: m.rows, sha256: m.sha256, bytes: m.bytes } });
  });
});
