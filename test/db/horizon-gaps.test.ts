import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { ENGINES } from "../helpers/engines.js";
import { recordGaps } from "../../src/sync/ledger.js";

const D = 86_400_000;

describe.each(ENGINES)("a window the 90-day horizon reaches before it is archived, on %s", (engine) => {
  let f: ArchiveFixture;
  beforeAll(async () => {
    // Day windows: few requests, and the horizon falls half a day into one of them.
    f = await createArchiveFixture(`horizon_gaps_${engine}`, { engine, sim: { projects: 1, days: 95, perDay: 200 }, settings: { windowMs: D } });
  });
  afterAll(async () => {
    await f?.close();
  });

  it("is fetched, and the part of it the horizon passed is a gap, as the windows before it are", async () => {
    const [p] = f.sim.projects();
    const projectId = p!.project_id;
    // The first contact is an explicit backfill of a few hours: the archive starts 90 days before it.
    expect((await f.sync({ since: new Date("2026-11-20T00:00:00Z"), until: new Date("2026-11-20T06:00:00Z") })).outcome).toBe("succeeded");
    // Then the archiver is down for two days; it comes back at 12:20, so the horizon is 2026-08-24T12:20Z.
    f.clock.set("2026-11-22T12:20:00Z");
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects[0]!.gapsRecorded).toBe(1);

    const gaps = await sql<{ gap_start: Date; gap_end: Date; reason: string }>`
      select gap_start, gap_end, reason from deepgram_archive.sync_gaps where project_id = ${projectId} order by gap_start`.execute(f.database.db);
    // The days the archiver was down, to the horizon itself: the lost windows and the part of the next the horizon passed.
    expect(gaps.rows.map((g) => [g.gap_start.toISOString(), g.gap_end.toISOString(), g.reason])).toEqual([
      ["2026-08-22T00:00:00.000Z", "2026-08-24T12:20:00.000Z", "fell off the 90-day horizon before it was archived"],
    ]);
    const w = await sql<{ state: string }>`
      select state from deepgram_archive.sync_windows where project_id = ${projectId} and window_start = '2026-08-24T00:00:00Z'`.execute(f.database.db);
    expect(w.rows.map((x) => x.state)).toEqual(["complete"]);

    // Deepgram no longer lists what the horizon passed: the gap is real, and the rest of the day is archived.
    const inRange = (from: string, to: string) =>
      f.sim
        .truth(projectId)
        .filter((t) => Date.parse(t.created) >= Date.parse(from) && Date.parse(t.created) < Date.parse(to))
        .map((t) => t.request_id)
        .sort();
    const archived = async (from: string, to: string) =>
      (
        await sql<{ request_id: string }>`
          select request_id from deepgram_archive.requests where project_id = ${projectId} and created >= ${from}::timestamptz and created < ${to}::timestamptz
          order by request_id`.execute(f.database.db)
      ).rows.map((r) => r.request_id);
    expect(inRange("2026-08-24T00:00:00Z", "2026-08-24T12:20:00Z").length).toBeGreaterThan(0);
    expect(await archived("2026-08-24T00:00:00Z", "2026-08-24T12:20:00Z")).toEqual([]);
    expect(await archived("2026-08-24T12:20:00Z", "2026-08-25T00:00:00Z")).toEqual(inRange("2026-08-24T12:20:00Z", "2026-08-25T00:00:00Z").sort());

    // The next pass finds the window archived: nothing more is recorded.
    f.clock.advance(15 * 60_000);
    expect((await f.sync()).projects[0]!.gapsRecorded).toBe(0);
  });

  it("extends the gap row a later gap starts in or at the end of, and keeps one that does not touch it apart", async () => {
    const [p] = f.sim.projects();
    const projectId = p!.project_id;
    const at = (iso: string) => Date.parse(iso);
    await recordGaps(f.database.db, { projectId, lost: [], gaps: [{ start: at("2026-08-24T12:20:00Z"), end: at("2026-08-24T12:40:00Z") }], now: f.clock.now() });
    await recordGaps(f.database.db, { projectId, lost: [], gaps: [{ start: at("2026-08-24T13:00:00Z"), end: at("2026-08-24T14:00:00Z") }], now: f.clock.now() });
    const gaps = await sql<{ gap_start: Date; gap_end: Date }>`
      select gap_start, gap_end from deepgram_archive.sync_gaps where project_id = ${projectId} order by gap_start`.execute(f.database.db);
    expect(gaps.rows.map((g) => [g.gap_start.toISOString(), g.gap_end.toISOString()])).toEqual([
      ["2026-08-22T00:00:00.000Z", "2026-08-24T12:40:00.000Z"],
      ["2026-08-24T13:00:00.000Z", "2026-08-24T14:00:00.000Z"],
    ]);
  });
});
