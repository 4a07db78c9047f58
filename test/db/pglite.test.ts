import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { sql } from "kysely";
import { createLogger, silentLogger } from "../../src/logger.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { EmbeddedDatabaseMissingError, openPglite } from "../../src/db/pglite.js";
import { DataDirLockedError, LOCK_FILE, lockDataDir } from "../../src/db/data-dir-lock.js";
import type { ArchiveDatabase } from "../../src/db/connection.js";
import { describeSchema } from "../helpers/schema-dump.js";
import { openEngineDatabase, type EngineDatabase } from "../helpers/engines.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "dga-pglite-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: "info", destination }), lines };
}

describe("the embedded database on disk", () => {
  let dataDir: string;
  let first: ArchiveDatabase | null = null;

  beforeAll(async () => {
    dataDir = join(tempDir(), "nested", "data");
  });
  afterAll(async () => {
    await first?.close();
  });

  it("creates the data directory, says it is embedded and for one process, and migrates", async () => {
    const { logger, lines } = captureLogger();
    first = await openPglite({ dataDir, logger });
    expect(first.engine).toBe("pglite");
    expect(first.target).toContain(dataDir);
    const line = lines.find((l) => l.engine === "pglite");
    expect(line?.msg).toMatch(/embedded database \(PGlite\) in .*nested\/data; it suits one archiver process/);
    const r = await migrateToLatest(first.db);
    expect(r.applied.length).toBeGreaterThan(0);
    // The migrator's advisory lock works in single-user PGlite; a second run is a no-op.
    expect((await Promise.all([migrateToLatest(first.db), migrateToLatest(first.db)])).map((x) => x.applied)).toEqual([[], []]);
  });

  it("builds the same schema as on the server (the committed snapshot, modulo how Postgres 17 prints views)", async () => {
    const normalize = (text: string) =>
      text
        .split("\n")
        .map((l) => (l.startsWith("  view ") ? l.replace(/\b(?!deepgram_archive\.)[a-z_]+\.(?=[a-z_])/g, "") : l))
        .join("\n");
    const snapshot = readFileSync(new URL("./__snapshots__/schema.txt", import.meta.url), "utf8");
    expect(normalize(await describeSchema(first!.db))).toBe(normalize(snapshot));
  });

  it("refuses a second opener of the same directory at once, naming the holder and what to do", async () => {
    const started = Date.now();
    const err = await openPglite({ dataDir, logger: silentLogger(), command: "deepgram-archiver sync" }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(DataDirLockedError);
    const message = (err as Error).message;
    expect(message).toContain(`process ${process.pid}`);
    expect(message).toContain(dataDir);
    expect(message).toMatch(/DATABASE_URL/);
  });

  it("keeps what was written across a close and a reopen, and frees the directory on close", async () => {
    await sql`insert into deepgram_archive.projects (project_id, name, first_seen_at, last_seen_at) values ('p-keep', 'kept', now(), now())`.execute(first!.db);
    await first!.close();
    first = null;
    expect(() => readFileSync(join(dataDir, LOCK_FILE))).toThrow();
    first = await openPglite({ dataDir, logger: silentLogger(), mustExist: true });
    const rows = await sql<{ name: string }>`select name from deepgram_archive.projects where project_id = 'p-keep'`.execute(first.db);
    expect(rows.rows).toEqual([{ name: "kept" }]);
  });

  it("refuses to create a database when one must already exist", async () => {
    const empty = tempDir();
    await expect(openPglite({ dataDir: empty, logger: silentLogger(), mustExist: true })).rejects.toBeInstanceOf(EmbeddedDatabaseMissingError);
  });

  it("hands out each project lock once within the process", async () => {
    const release = await first!.tryLockProject("p1");
    expect(release).not.toBeNull();
    expect(await first!.tryLockProject("p1")).toBeNull();
    expect(await first!.tryLockProject("p2")).not.toBeNull();
    await release!();
    expect(await first!.tryLockProject("p1")).not.toBeNull();
  });
});

describe("the data directory lock", () => {
  it("takes over a lock whose process is gone, with a warning", () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 999_999_999, hostname: hostname(), startedAt: "2026-01-01T00:00:00Z", command: "deepgram-archiver run" }));
    const { logger, lines } = captureLogger();
    const lock = lockDataDir(dir, { logger });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    expect(lines.some((l) => l.level === 40 && /stale lock/.test(String(l.msg)))).toBe(true);
    lock.release();
    expect(() => readFileSync(join(dir, LOCK_FILE))).toThrow();
  });

  it("never takes over a lock held by a live process or by another host", () => {
    const dir = tempDir();
    const other = { pid: 12345, hostname: "some-other-host", startedAt: "2026-01-01T00:00:00Z", command: "deepgram-archiver run" };
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(other));
    expect(() => lockDataDir(dir, { logger: silentLogger(), isAlive: () => false })).toThrow(/process 12345 on some-other-host/);
    const here = tempDir();
    const holder = lockDataDir(here, { logger: silentLogger() });
    expect(() => lockDataDir(here, { logger: silentLogger() })).toThrow(DataDirLockedError);
    holder.release();
    lockDataDir(here, { logger: silentLogger() }).release();
  });

  it("treats a lock file still being written as held", () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), "");
    expect(() => lockDataDir(dir, { logger: silentLogger() })).toThrow(/writing its lock file/);
  });
});

/** The same queries on both engines give the same JavaScript values (shared code depends on it). */
describe("values in and out match the pg driver", () => {
  let pgDb: EngineDatabase;
  let liteDb: EngineDatabase;
  beforeAll(async () => {
    [pgDb, liteDb] = await Promise.all([openEngineDatabase("postgres", "types", silentLogger(), 2), openEngineDatabase("pglite", "types", silentLogger())]);
  });
  afterAll(async () => {
    await pgDb?.drop();
    await liteDb?.drop();
  });

  const both = async <T>(q: (db: ArchiveDatabase["db"]) => Promise<T>): Promise<[T, T]> => [await q(pgDb.database.db), await q(liteDb.database.db)];

  it("reads int8, count, numeric, date, timestamps, interval, arrays, json and bytea the same way", async () => {
    const [a, b] = await both(async (db) =>
      (
        await sql`select 9007199254740993::int8 as big, count(*) as n, 12.3400::numeric as money, 3::int4 as small, 1.5::float8 as f,
          '2026-03-14'::date as day, '2026-03-14 10:00:00'::timestamp as ts, '2026-03-14 10:00:00+02'::timestamptz as tstz,
          interval '1 day 02:00:00' as span, array['a', null, 'c']::text[] as texts, array[1, 2]::int8[] as bigs,
          '{"k": [1, "x"]}'::jsonb as doc, '\\x00ff'::bytea as bytes, true as flag, null::text as nothing
          from generate_series(1, 3)`.execute(db)
      ).rows,
    );
    expect(b).toEqual(a);
    expect(typeof (a[0] as { big: unknown }).big).toBe("string");
    expect(typeof (a[0] as { n: unknown }).n).toBe("string");
  });

  it("binds strings, unicode, JSON text, Dates, booleans and arrays the same way", async () => {
    const day = new Date("2026-03-14T00:00:00");
    const payload = JSON.stringify([{ id: "é✓日本 🎧", n: 1 }]);
    const [a, b] = await both(async (db) =>
      (
        await sql`select ${"héllo ✓"}::text as t, length(${"日本語"}) as len, ${payload}::jsonb as doc, (${payload}::jsonb)->0->>'id' as id,
          ${day}::date as d, ${day}::timestamptz as tz, ${true}::boolean as flag, ${["x", "y"]}::text[] as arr,
          ${JSON.stringify({ a: 1 })}::json as j, ${[JSON.stringify({ b: 2 })]}::jsonb[] as docs`.execute(db)
      ).rows,
    );
    expect(b).toEqual(a);
  });

  it("reports affected rows and runs the archive's upsert shapes (CTE inserts with returning)", async () => {
    const [a, b] = await both((db) => db.transaction().execute(async (db) => {
      await sql`create temporary table t (k text primary key, v int)`.execute(db);
      const ins = await sql`insert into t values ('a', 1), ('b', 2) on conflict (k) do update set v = excluded.v`.execute(db);
      const cte = await sql<{ n: number }>`with w as (insert into t values ('a', 5), ('c', 3) on conflict (k) do update set v = excluded.v where t.v <> excluded.v returning k) select count(*)::int as n from w`.execute(db);
      const upd = await sql`update t set v = v + 1`.execute(db);
      await sql`drop table t`.execute(db);
      return [ins.numAffectedRows, cte.rows, upd.numAffectedRows];
    }));
    expect(b).toEqual(a);
  });
});
