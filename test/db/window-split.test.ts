import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { canonical } from "../helpers/compare.js";
import { recordWindowError } from "../../src/sync/ledger.js";

const H = 3_600_000;
const WINDOW_START = Date.parse("2026-11-20T12:00:00Z");

/**
 * A first pass, then a burst of 11,000 records in the 36 s before 12:20:00 (about 300 a second) and
 * a second pass an hour later, which must split the 12:00 window: more than 32 parts, and 3600 s do
 * not divide into 32 (112.5 s) or 64 (56.25 s). Returns the project and the page fetches before
 * the second pass.
 */
async function burstPass(f: ArchiveFixture): Promise<{ projectId: string; fetchedBefore: number }> {
  expect((await f.sync()).outcome).toBe("succeeded");
  const projectId = f.sim.projects()[0]!.project_id;
  f.sim.control.addLate(11_000, { projectId, withinHours: 0.01 });
  f.clock.advance(H);
  const fetchedBefore = f.sim.stats().pageFetches.length;
  const report = await f.sync();
  expect(report.projects.map((r) => r.error)).toEqual([null]);
  expect(report.outcome).toBe("succeeded");
  return { projectId, fetchedBefore };
}

describe("a window split more finely than it divides into whole seconds", () => {
  let f: ArchiveFixture;

  beforeAll(async () => {
    f = await createArchiveFixture("window_split", { sim: { projects: 1, days: 3, perDay: 20 }, settings: { windowMs: H } });
  });
  afterAll(async () => {
    await f?.close();
  });

  it("is read in whole-second parts that tile it, and archived exactly", async () => {
    const { projectId, fetchedBefore } = await burstPass(f);

    const w = await sql<{ state: string; parts: number; records: number }>`
      select state, parts, records from deepgram_archive.sync_windows
      where project_id = ${projectId} and window_start = ${new Date(WINDOW_START)}`.execute(f.database.db);
    expect(w.rows[0]!.state).toBe("complete");
    expect(3_600 % w.rows[0]!.parts).not.toBe(0);

    // The window's archive is the simulator's truth for it, record for record.
    const inWindow = (created: string | Date) => {
      const t = new Date(created).getTime();
      return t >= WINDOW_START && t < WINDOW_START + H;
    };
    const truth = f.sim
      .truth(projectId)
      .filter((t) => inWindow(t.created))
      .map((t) => [t.request_id, canonical(t)])
      .sort();
    const archived = await sql<{ request_id: string; raw: unknown }>`
      select request_id, raw from deepgram_archive.requests
      where project_id = ${projectId} and created >= ${new Date(WINDOW_START)} and created < ${new Date(WINDOW_START + H)}`.execute(f.database.db);
    expect(truth.length).toBeGreaterThanOrEqual(11_000);
    expect(archived.rows.map((r) => [r.request_id, canonical(r.raw)]).sort()).toEqual(truth);
    expect(w.rows[0]!.records).toBe(truth.length);
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));

    // The last read's parts: whole seconds, each starting where the one before ended, from the window's start to its end.
    const fetches = f.sim.stats().pageFetches.slice(fetchedBefore).filter((q) => inWindow(q.start) && Date.parse(q.end) <= WINDOW_START + H);
    expect(fetches.filter((q) => q.page >= 10)).toEqual([]);
    const parts = fetches.filter((q) => q.page === 0).slice(-w.rows[0]!.parts);
    const bounds = parts.map((q) => [Date.parse(q.start), Date.parse(q.end)] as const);
    for (const [s, e] of bounds) {
      expect(s % 1_000).toBe(0);
      expect(e % 1_000).toBe(0);
      expect(e).toBeGreaterThan(s);
    }
    expect(bounds[0]![0]).toBe(WINDOW_START);
    expect(bounds[bounds.length - 1]![1]).toBe(WINDOW_START + H);
    for (let i = 1; i < bounds.length; i++) expect(bounds[i]![0]).toBe(bounds[i - 1]![1]);
  });

  it("keeps the split it remembered when a later read of the window fails", async () => {
    const [p] = f.sim.projects();
    const projectId = p!.project_id;
    const parts = async () =>
      (
        await sql<{ parts: number }>`select parts from deepgram_archive.sync_windows where project_id = ${projectId} and window_start = ${new Date(WINDOW_START)}`.execute(
          f.database.db,
        )
      ).rows[0]!.parts;
    const split = await parts();
    expect(split).toBeGreaterThan(1);
    // A pass planned before the split (parts 1) fails on the window: the error must not undo the split.
    await recordWindowError(f.database.db, { projectId, start: new Date(WINDOW_START), end: new Date(WINDOW_START + H), parts: 1, error: "boom", now: f.clock.now() });
    expect(await parts()).toBe(split);
  });
});

describe("a split window when the API's end covers its whole second (deepgram-api.md, open question 5)", () => {
  let f: ArchiveFixture;

  beforeAll(async () => {
    f = await createArchiveFixture("window_split_second", { sim: { projects: 1, days: 3, perDay: 20, endCoversSecond: true }, settings: { windowMs: H } });
  });
  afterAll(async () => {
    await f?.close();
  });

  it("takes the records listed in the second after a part's end as the next part's, and archives the window exactly", async () => {
    // The burst puts records in the second after any part's end that falls inside it, and with
    // this simulator that part's listing returns them.
    const { projectId, fetchedBefore } = await burstPass(f);
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));

    const w = await sql<{ state: string; parts: number }>`
      select state, parts from deepgram_archive.sync_windows
      where project_id = ${projectId} and window_start = ${new Date(WINDOW_START)}`.execute(f.database.db);
    expect(w.rows[0]!.state).toBe("complete");
    expect(w.rows[0]!.parts).toBeGreaterThan(1);
    // The case at hand did occur: records in the second after an inner part end.
    const innerEnds = f.sim
      .stats()
      .pageFetches.slice(fetchedBefore)
      .filter((q) => q.page === 0 && Date.parse(q.start) >= WINDOW_START && Date.parse(q.end) < WINDOW_START + H)
      .map((q) => Date.parse(q.end));
    const inSecondAfter = f.sim.truth(projectId).filter((t) => {
      const ms = Date.parse(t.created);
      return innerEnds.some((e) => ms >= e && ms < e + 1_000);
    });
    expect(inSecondAfter.length).toBeGreaterThan(0);
  });
});
