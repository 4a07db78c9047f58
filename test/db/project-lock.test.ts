import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { sql } from "kysely";
import { runSync } from "../../src/sync/engine.js";
import { PROJECT_LOCK_CLASS } from "../../src/db/project-lock.js";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { captureLogs } from "../helpers/log-capture.js";

const H = 3_600_000;
const logs = captureLogs("warn");
let f: ArchiveFixture;

beforeAll(async () => {
  f = await createArchiveFixture("project-lock", { sim: { days: 20, perDay: 200 }, settings: { concurrency: 1 }, logger: logs.logger });
});
afterAll(async () => {
  await f?.close();
});

/** Ends the session that holds `projectId`'s lock in this test's database, as a failed connection would, and waits until it is gone. */
async function dropLockConnection(projectId: string): Promise<number> {
  const r = await sql<{ pid: number }>`
    select l.pid, pg_terminate_backend(l.pid, 5000) from pg_locks l
    where l.locktype = 'advisory' and l.granted and l.classid = ${PROJECT_LOCK_CLASS}
      and l.objid::bigint = (hashtext(${projectId})::bigint + 4294967296) % 4294967296
      and l.database = (select oid from pg_database where datname = current_database())`.execute(f.database.db);
  return r.rows.length;
}

/** A pass that calls `onFirstPage` when the first page of `projectId` commits. */
function passWith(projectId: string, onFirstPage: () => Promise<unknown>): { report: ReturnType<typeof runSync>; hook: () => Promise<unknown> } {
  let hook: Promise<unknown> | null = null;
  const report = runSync({
    database: f.database,
    client: f.client,
    clock: f.clock,
    logger: f.logger,
    settings: f.settings,
    onEvent: (e) => {
      if (e.type === "page" && e.projectId === projectId && hook === null) hook = onFirstPage();
    },
  });
  return { report, hook: () => hook ?? Promise.resolve(null) };
}

describe("the project lock", () => {
  it("is taken again on a new connection when its connection fails, and the pass goes on", async () => {
    const [p] = f.sim.projects().map((x) => x.project_id);
    const pass = passWith(p!, () => dropLockConnection(p!));
    const report = await pass.report;
    expect(await pass.hook()).toBe(1);
    expect(report.outcome).toBe("succeeded");
    expect(logs.lines.filter((l) => l.msg === "project lock taken again after its connection failed").map((l) => l.projectId)).toEqual([p]);
    const d = await f.diff();
    expect(problems(d)).toEqual(exact(d));
  });

  it("stops a project whose lock another process took while its connection was down, keeps what committed, and the next pass completes it", async () => {
    const [lost, other] = f.sim.projects().map((x) => x.project_id);
    // New records and slow pages, so the pass still has windows of the project to fetch when its lock is gone.
    f.sim.control.addLate(3000, { projectId: lost });
    f.sim.control.setLatency(100);
    f.clock.advance(H);
    const rival = new pg.Client({ connectionString: f.tdb.url! });
    await rival.connect();
    try {
      const pass = passWith(lost!, async () => {
        // The rival waits for the lock; it gets it the moment the archiver's session ends, before any retry.
        const waiting = rival.query("select pg_advisory_lock($1, hashtext($2))", [PROJECT_LOCK_CLASS, lost]);
        const dropped = await dropLockConnection(lost!);
        await waiting;
        return dropped;
      });
      const report = await pass.report;
      expect(await pass.hook()).toBe(1);
      const byId = new Map(report.projects.map((x) => [x.projectId, x]));
      expect(byId.get(lost!)).toMatchObject({
        outcome: "failed",
        error:
          "lost this project's lock: its connection failed (terminating connection due to administrator command) and another process holds it now. " +
          "The project stopped for this pass; the next pass takes the lock again.",
      });
      expect(byId.get(lost!)!.windowsCompleted).toBeLessThan(byId.get(lost!)!.windowsPlanned);
      expect(byId.get(other!)).toMatchObject({ outcome: "succeeded", error: null });
      expect(report.outcome).toBe("partial");
      const partial = (await f.diff())[lost!]!;
      expect(partial.missing.length).toBeGreaterThan(0);
      expect([partial.duplicated, partial.stale, partial.unexpected]).toEqual([[], [], []]);
    } finally {
      f.sim.control.setLatency(0);
      await rival.end();
    }

    f.clock.advance(H);
    expect((await f.sync()).outcome).toBe("succeeded");
    const d = await f.diff();
    expect(problems(d)).toEqual(exact(d));
  });
});
