import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { runSync } from "../../src/sync/engine.js";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";

let f: ArchiveFixture;

beforeAll(async () => {
  f = await createArchiveFixture("project-lock", { sim: { days: 20, perDay: 200 }, settings: { concurrency: 1 } });
});
afterAll(async () => {
  await f?.close();
});

/** Ends the session that holds `projectId`'s advisory lock in this test's database, as a failed connection would. */
async function dropLockConnection(projectId: string): Promise<number> {
  const r = await sql<{ pid: number }>`
    select l.pid, pg_terminate_backend(l.pid) from pg_locks l
    where l.locktype = 'advisory' and l.granted and l.classid = ${0x0d9a}
      and l.objid::bigint = (hashtext(${projectId})::bigint + 4294967296) % 4294967296
      and l.database = (select oid from pg_database where datname = current_database())`.execute(f.database.db);
  return r.rows.length;
}

describe("the project lock", () => {
  it("stops a project's windows when its lock's connection fails, keeps what committed, and the next pass completes it", async () => {
    const [lost, other] = f.sim.projects().map((p) => p.project_id);
    let dropped: Promise<number> | null = null;
    const report = await runSync({
      database: f.database,
      client: f.client,
      clock: f.clock,
      logger: f.logger,
      settings: f.settings,
      onEvent: (e) => {
        if (e.type === "page" && e.projectId === lost && dropped === null) dropped = dropLockConnection(lost!);
      },
    });
    expect(await dropped).toBe(1);
    const byId = new Map(report.projects.map((p) => [p.projectId, p]));
    expect(byId.get(lost!)).toMatchObject({ outcome: "failed", error: expect.stringMatching(/^lost this project's lock \(.+\); another process may archive it now/) });
    expect(byId.get(lost!)!.windowsCompleted).toBeLessThan(byId.get(lost!)!.windowsPlanned);
    expect(byId.get(other!)).toMatchObject({ outcome: "succeeded", error: null });
    expect(report.outcome).toBe("partial");
    const partial = await f.diff();
    expect(partial[lost!]!.missing.length).toBeGreaterThan(0);
    expect([partial[lost!]!.duplicated, partial[lost!]!.stale, partial[lost!]!.unexpected]).toEqual([[], [], []]);

    f.clock.advance(3_600_000);
    const next = await f.sync();
    expect(next.outcome).toBe("succeeded");
    const diffs = await f.diff();
    for (const d of Object.values(diffs)) {
      expect([d.missing, d.duplicated, d.stale, d.unexpected]).toEqual([[], [], [], []]);
      expect(d.compared).toBeGreaterThan(0);
    }
  });
});
