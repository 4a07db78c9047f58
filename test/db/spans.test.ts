import { afterEach, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";

let f: ArchiveFixture | undefined;

afterEach(async () => {
  await f?.close();
  f = undefined;
});

describe("sparse windows read as spans", () => {
  it("take far fewer listings than windows, and each window's ledger row counts its own records", async () => {
    f = await createArchiveFixture("spans", { sim: { perDay: 40, projects: 1, days: 30 }, settings: { windowMs: 3_600_000 } });
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const [project] = report.projects;
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));

    const windows = await sql<{ start: Date; end: Date; records: number; state: string }>`
      select window_start as start, window_end as "end", records, state from deepgram_archive.sync_windows
      where project_id = ${project!.projectId} order by window_start`.execute(f.database.db);
    // Spans, not one listing per window: 30 days of 1-hour windows at 40 records a day.
    expect(windows.rows.length).toBeGreaterThan(700);
    expect(project!.pages).toBeLessThan(windows.rows.length / 10);
    const archived = await sql<{ created: Date }>`
      select created from deepgram_archive.requests where project_id = ${project!.projectId}`.execute(f.database.db);
    const times = archived.rows.map((r) => r.created.getTime());
    for (const w of windows.rows) {
      expect(w.state).toBe("complete");
      const inWindow = times.filter((t) => t >= w.start.getTime() && t < w.end.getTime()).length;
      expect(w.records, `window ${w.start.toISOString()}`).toBe(inWindow);
    }
    expect(windows.rows.reduce((a, w) => a + w.records, 0)).toBe(times.length);
  });

  it("are read again, whole, when the listing moves under them", async () => {
    f = await createArchiveFixture("spans-move", { sim: { perDay: 40, projects: 1, days: 30 }, settings: { windowMs: 3_600_000 } });
    await f.sync();
    const [p] = f.sim.projects();
    // Late records spread over two days of already archived, spanned windows: the rescan reads
    // them as spans of more than one page, and records inserted between pages move the listing.
    f.clock.advance(2 * 3_600_000);
    f.sim.control.addLate(2_500, { projectId: p!.project_id, withinHours: 60 });
    f.sim.control.insertDuringPaging({ projectId: p!.project_id, count: 3 });
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects[0]!.rereads).toBeGreaterThan(0);
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));
  });
});
