import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { ENGINES } from "../helpers/engines.js";

const H = 3_600_000;

describe.each(ENGINES)("an archiving pass on %s", (engine) => {
  let f: ArchiveFixture;

  beforeAll(async () => {
    f = await createArchiveFixture(`sync_${engine}`, { engine });
  });
  afterAll(async () => {
    await f?.close();
  });

  const count = async (q: ReturnType<typeof sql<{ n: number }>>) => (await q.execute(f.database.db)).rows[0]!.n;

  it("archives every visible, settled record of every project exactly", async () => {
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects.map((p) => p.outcome)).toEqual(["succeeded", "succeeded"]);
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));
    const total = Object.values(diffs).reduce((a, d) => a + d.compared, 0);
    expect(total).toBeGreaterThan(2 * 89 * 60);
    // Every window of the plan is proven complete in the ledger.
    const incomplete = await count(sql<{ n: number }>`select count(*)::int as n from deepgram_archive.sync_windows where state <> 'complete'`);
    expect(incomplete).toBe(0);
  });

  it("changes nothing when run again", async () => {
    const before = await sql<{ h: string }>`select md5(string_agg(request_id || content_hash || last_changed_at::text, ',' order by request_id)) as h from deepgram_archive.requests`.execute(f.database.db);
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects.map((p) => [p.inserted, p.updated])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    const after = await sql<{ h: string }>`select md5(string_agg(request_id || content_hash || last_changed_at::text, ',' order by request_id)) as h from deepgram_archive.requests`.execute(f.database.db);
    expect(after.rows[0]!.h).toBe(before.rows[0]!.h);
    expect(await count(sql<{ n: number }>`select count(*)::int as n from deepgram_archive.request_versions`)).toBe(0);
    // Every row carries the hash of the bytes it was parsed from: the rescan just now recognized them by it.
    expect(await count(sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests where source_sha256 is null`)).toBe(0);
  });

  it("updates and versions changed records, completes pending ones and picks up late ones", async () => {
    const [p1] = f.sim.projects();
    f.clock.advance(H);
    const completed = f.sim.control.completePending();
    const mutated = f.sim.control.mutate(25, { projectId: p1!.project_id });
    const late = f.sim.control.addLate(30, { withinHours: 48 });
    expect(completed.length).toBeGreaterThan(0);
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));
    const settledEnd = Math.floor((f.clock.now().getTime() - f.settings.settleMs) / f.settings.windowMs) * f.settings.windowMs;
    const settledLate = late.filter((l) => Date.parse(l.created) < settledEnd);
    expect(settledLate.length).toBeGreaterThan(0);
    const inserted = report.projects.reduce((a, p) => a + p.inserted, 0);
    expect(inserted).toBe(settledLate.length);
    const versioned = await sql<{ request_id: string }>`select distinct request_id from deepgram_archive.request_versions`.execute(f.database.db);
    const ids = new Set(versioned.rows.map((r) => r.request_id));
    // Mutated records in windows archived before (the newest windows are not settled yet).
    const createdOf = new Map(f.sim.truth(p1!.project_id).map((t) => [t.request_id, Date.parse(t.created)]));
    const archivedBefore = mutated.filter((id) => createdOf.get(id)! < settledEnd - H);
    expect(archivedBefore.length).toBeGreaterThan(0);
    for (const id of archivedBefore) expect(ids.has(id)).toBe(true);
    // The changed days were marked dirty in the same transactions, and the pass's summarizer rebuilt them.
    expect(report.summary).toMatchObject({ mode: "drain", dirtyRemaining: 0 });
    expect(report.summary!.daysChanged).toBeGreaterThan(0);
    expect(await count(sql<{ n: number }>`select count(*)::int as n from deepgram_archive.dirty_days`)).toBe(0);
  });

  it("reads a window again when its listing moves while paging", async () => {
    const [p1] = f.sim.projects();
    // A deep settled window (three pages), then a listing that moves under the pager.
    f.clock.set("2026-11-21T00:20:00Z");
    const before = f.sim.stats().pageFetches.length;
    f.sim.control.addLate(3000, { projectId: p1!.project_id, withinHours: 6 });
    f.sim.control.insertDuringPaging({ projectId: p1!.project_id, count: 3 });
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects.find((p) => p.projectId === p1!.project_id)!.rereads).toBe(1);
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));
    expect(f.sim.stats().pageFetches.length).toBeGreaterThan(before);
  });

  it("splits a window too deep for safe offset paging and remembers the split", async () => {
    const [p1] = f.sim.projects();
    f.clock.set("2026-11-21T06:20:00Z");
    f.sim.control.addLate(13_000, { projectId: p1!.project_id, withinHours: 5 });
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));
    const w = await sql<{ parts: number; records: number; state: string }>`
      select parts, records, state from deepgram_archive.sync_windows
      where project_id = ${p1!.project_id} and window_start = '2026-11-21T00:00:00Z'`.execute(f.database.db);
    expect(w.rows[0]!.state).toBe("complete");
    expect(w.rows[0]!.parts).toBe(2);
    expect(w.rows[0]!.records).toBeGreaterThan(10_000);
    // No range was paged deeper than the limit allows.
    const deep = f.sim.stats().pageFetches.filter((p) => p.page >= 10);
    expect(deep).toEqual([]);
  });
});
