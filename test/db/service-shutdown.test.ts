import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { sql } from "kysely";
import { systemClock } from "../../src/clock.js";
import { openPostgres, type ArchiveDatabase } from "../../src/db/connection.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { silentLogger } from "../../src/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { NO_PROBLEMS, diffArchive, problemCounts, settledVisible } from "../helpers/compare.js";
import { startRunProcess } from "../helpers/run-process.js";

const KEY = "dg-shutdown-key-7b3e1f0a";
const WINDOW_MS = 12 * 3_600_000;
const SETTLE_MS = 15 * 60_000;

let sim: Simulator;

beforeAll(async () => {
  sim = createSimulator({ clock: systemClock, apiKey: KEY, seed: 21, projects: 1, days: 95, perDay: 100 });
  await sim.start();
});
afterAll(async () => {
  await sim?.stop();
});

async function freshDatabase(label: string): Promise<{ tdb: TestDatabase; database: ArchiveDatabase; env: Record<string, string> }> {
  const tdb = await createTestDatabase(label);
  const database = await openPostgres({ url: tdb.url, target: tdb.name, logger: silentLogger() });
  await migrateToLatest(database.db);
  const env = {
    DEEPGRAM_API_KEY: KEY,
    DEEPGRAM_BASE_URL: sim.url,
    DATABASE_URL: tdb.url,
    ARCHIVER_WINDOW: "12h",
    ARCHIVER_SCHEDULE: "*/10 * * * * *",
    ARCHIVER_HTTP_PORT: "0",
    LOG_LEVEL: "info",
  };
  return { tdb, database, env };
}

const count = async (database: ArchiveDatabase) => (await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests`.execute(database.db)).rows[0]!.n;

async function waitUntil(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("run on a signal", () => {
  it("stops in the middle of a pass with exit 0 well within 10 s, and the next start resumes to an exact archive", async () => {
    const { tdb, database, env } = await freshDatabase("shutdown");
    try {
      sim.control.setLatency(40);
      const run = startRunProcess(env);
      await run.url();
      await waitUntil(async () => (await count(database)) > 500, 60_000, "the first pages to commit");
      const committed = await count(database);
      const stop = await run.stop("SIGTERM");
      expect({ code: stop.code, signal: stop.signal }).toEqual({ code: 0, signal: null });
      expect(stop.ms).toBeLessThan(10_000);
      const runs = await sql<{ outcome: string }>`select outcome from deepgram_archive.sync_runs order by run_id`.execute(database.db);
      expect(runs.rows.map((r) => r.outcome)).toEqual(["aborted"]);
      expect(await count(database)).toBeGreaterThanOrEqual(committed);
      expect(run.lines.map((l) => l.msg)).toContain("stopping: aborting the pass in progress (committed pages stay; the next start resumes from the ledger)");
      console.info(`SIGTERM mid-pass: exit ${stop.code} after ${stop.ms} ms with ${committed}+ rows committed`);

      sim.control.setLatency(0);
      const before = new Date();
      const again = startRunProcess(env);
      const url = await again.url();
      await again.waitForLog((l) => l.msg === "pass succeeded", 120_000);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const [p] = sim.projects();
      const expected = settledVisible(sim.visibleTruth(p!.project_id), before, WINDOW_MS, SETTLE_MS);
      const d = await diffArchive(database.db, p!.project_id, expected, sim.truth(p!.project_id));
      expect(problemCounts(d)).toEqual(NO_PROBLEMS);
      const second = await again.stop("SIGINT");
      expect({ code: second.code, signal: second.signal }).toEqual({ code: 0, signal: null });
      expect(second.ms).toBeLessThan(10_000);
    } finally {
      sim.control.setLatency(0);
      await database.close();
      await tdb.drop();
    }
  }, 240_000);

  /** Holds an exclusive lock on the ledger so the pass's next commit waits for it. */
  async function blockLedger(url: string): Promise<pg.Client> {
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    await blocker.query("begin");
    await blocker.query("lock table deepgram_archive.sync_windows in access exclusive mode");
    return blocker;
  }
  const waitingOnLock = async (database: ArchiveDatabase, name: string) =>
    (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = ${name} and wait_event_type = 'Lock'`.execute(database.db)).rows[0]!.n > 0;

  it("exits at once on a second signal while shutdown waits on a stuck database", async () => {
    const { tdb, database, env } = await freshDatabase("second_signal");
    let blocker: pg.Client | null = null;
    try {
      sim.control.setLatency(40);
      const run = startRunProcess(env);
      await run.url();
      await waitUntil(async () => (await count(database)) > 100, 60_000, "the first pages to commit");
      blocker = await blockLedger(tdb.url);
      await waitUntil(() => waitingOnLock(database, tdb.name), 30_000, "the pass to wait on the lock");
      run.child.kill("SIGTERM");
      const early = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r("still running"), 1_000))]);
      expect(early).toBe("still running");
      const second = await run.stop("SIGTERM");
      expect({ code: second.code, signal: second.signal }).toEqual({ code: 143, signal: null });
      expect(second.ms).toBeLessThan(3_000); // the deadline would be 8 s
    } finally {
      sim.control.setLatency(0);
      await blocker?.query("rollback").catch(() => undefined);
      await blocker?.end();
      await database.close();
      await tdb.drop();
    }
  }, 120_000);

  it("is gone within 10 s of one signal even when the database never answers", async () => {
    const { tdb, database, env } = await freshDatabase("deadline");
    let blocker: pg.Client | null = null;
    try {
      sim.control.setLatency(40);
      const run = startRunProcess(env);
      await run.url();
      await waitUntil(async () => (await count(database)) > 100, 60_000, "the first pages to commit");
      blocker = await blockLedger(tdb.url);
      await waitUntil(() => waitingOnLock(database, tdb.name), 30_000, "the pass to wait on the lock");
      const stop = await run.stop("SIGTERM");
      expect({ code: stop.code, signal: stop.signal }).toEqual({ code: 1, signal: null });
      expect(stop.ms).toBeGreaterThan(7_500);
      expect(stop.ms).toBeLessThan(10_000);
      expect(run.lines.filter((l) => l.level === 50).map((l) => l.msg)).toContain("shutdown did not finish within 8 s; exiting anyway (open transactions roll back)");
    } finally {
      sim.control.setLatency(0);
      await blocker?.query("rollback").catch(() => undefined);
      await blocker?.end();
      await database.close();
      await tdb.drop();
    }
  }, 120_000);

  it("stops the daily retention on a signal with exit 0: rolled back, nothing removed", async () => {
    const { tdb, database, env } = await freshDatabase("retention_stop");
    // Retention reads legal_holds right after taking its lock: holding that table keeps it waiting there.
    const blocker = new pg.Client({ connectionString: tdb.url });
    await blocker.connect();
    try {
      await blocker.query("begin");
      await blocker.query("lock table deepgram_archive.legal_holds in access exclusive mode");
      const run = startRunProcess({ ...env, ARCHIVER_RETENTION: "30d" });
      await run.url();
      await run.waitForLog((l) => l.msg === "daily job started", 120_000);
      await waitUntil(() => waitingOnLock(database, tdb.name), 30_000, "retention to wait on the lock");
      const rows = await count(database);
      const stop = await run.stop("SIGTERM");
      expect({ code: stop.code, signal: stop.signal }).toEqual({ code: 0, signal: null });
      expect(stop.ms).toBeLessThan(7_500); // the forced exit would come at 8 s, with exit 1
      expect(run.lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
      await blocker.query("rollback");
      expect(await count(database)).toBe(rows);
      const audit = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.audit_log where action like 'retention.%'`.execute(database.db);
      expect(audit.rows[0]!.n).toBe(0);
      console.info(`SIGTERM during retention: exit ${stop.code} after ${stop.ms} ms, ${rows} rows kept`);
    } finally {
      await blocker.query("rollback").catch(() => undefined);
      await blocker.end();
      await database.close();
      await tdb.drop();
    }
  }, 180_000);
});

describe("run with a setting the archive cannot work with", () => {
  it("stops with exit 2 and says what to do when ARCHIVER_TIMEZONE differs from the rollups' zone", async () => {
    const { tdb, database, env } = await freshDatabase("zone");
    try {
      await sql`insert into deepgram_archive.summary_settings (id, timezone, recorded_at) values (true, 'UTC', now())`.execute(database.db);
      const run = startRunProcess({ ...env, ARCHIVER_TIMEZONE: "Europe/Berlin" });
      const exit = await run.exited;
      expect(exit).toEqual({ code: 2, signal: null });
      expect(run.lines.filter((l) => l.level === 0).map((l) => l.msg)).toEqual([
        "Configuration problem: ARCHIVER_TIMEZONE is Europe/Berlin but the daily rollups were built with UTC days. " +
          "Run `deepgram-archiver summarize --rebuild` with ARCHIVER_TIMEZONE=Europe/Berlin to rebuild every day in the new zone, or set ARCHIVER_TIMEZONE=UTC again.",
      ]);
    } finally {
      await database.close();
      await tdb.drop();
    }
  }, 60_000);
});
