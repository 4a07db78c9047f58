import { afterEach, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";

const H = 3_600_000;
const D = 24 * H;
let f: ArchiveFixture | undefined;

afterEach(async () => {
  await f?.close();
  f = undefined;
});

const totals = (diffs: Awaited<ReturnType<ArchiveFixture["diff"]>>) =>
  Object.values(diffs).reduce(
    (a, d) => ({ compared: a.compared + d.compared, missing: a.missing + d.missing.length, duplicated: a.duplicated + d.duplicated.length, stale: a.stale + d.stale.length, unexpected: a.unexpected + d.unexpected.length }),
    { compared: 0, missing: 0, duplicated: 0, stale: 0, unexpected: 0 },
  );

describe("a pass under faults", () => {
  it("gives an exact archive with 8% injected faults, before and after records change", async () => {
    f = await createArchiveFixture("faults", { sim: { perDay: 200, faultRate: 0.08 } });
    const first = await f.sync();
    expect(first.outcome).toBe("succeeded");
    // Every injected fault was retried, none given up on.
    const retries = f.events.filter((e) => e.type === "retry").length;
    expect(retries).toBeGreaterThan(10);
    expect(retries).toBe(Object.values(f.sim.stats().faultsInjected).reduce((a, b) => a + b, 0));
    const d1 = await f.diff();
    expect(problems(d1)).toEqual(exact(d1));

    f.clock.advance(2 * H);
    const completed = f.sim.control.completePending();
    const mutated = f.sim.control.mutate(40);
    const late = f.sim.control.addLate(60);
    const second = await f.sync();
    expect(second.outcome).toBe("succeeded");
    const d2 = await f.diff();
    expect(problems(d2)).toEqual(exact(d2));
    const faults = Object.values(f.sim.stats().faultsInjected).reduce((a, b) => a + b, 0);
    console.info(
      `8% faults, 2 projects x 95 days x 200/day: ${faults} faults injected, ${f.events.filter((e) => e.type === "retry").length} retries; ` +
        `${completed.length} pending completed, ${mutated.length} changed, ${late.length} late; final compare ${JSON.stringify(totals(d2))}`,
    );
  }, 300_000);

  it("gives an exact archive when a pass is aborted midway and run again", async () => {
    f = await createArchiveFixture("abort", { sim: { perDay: 100 } });
    const controller = new AbortController();
    let pages = 0;
    const fx = f;
    const aborted = await (await import("../../src/sync/engine.js")).runSync(
      {
        database: fx.database,
        client: fx.client,
        clock: fx.clock,
        logger: fx.logger,
        settings: fx.settings,
        onEvent: (e) => {
          if (e.type === "page" && ++pages === 150) controller.abort(new Error("stop"));
        },
      },
      { signal: controller.signal },
    );
    expect(aborted.outcome).toBe("aborted");
    const partial = await sql<{ complete: number; rows: number }>`
      select (select count(*) from deepgram_archive.sync_windows where state = 'complete')::int as complete,
             (select count(*) from deepgram_archive.requests)::int as rows`.execute(f.database.db);
    expect(partial.rows[0]!.complete).toBeGreaterThanOrEqual(140);
    expect(partial.rows[0]!.complete).toBeLessThan(700);
    const run = await sql<{ outcome: string }>`select outcome from deepgram_archive.sync_runs order by run_id desc limit 1`.execute(f.database.db);
    expect(run.rows[0]!.outcome).toBe("aborted");

    const again = await f.sync();
    expect(again.outcome).toBe("succeeded");
    // Only what the aborted pass left, plus the rescan horizon, is read again.
    expect(again.projects.reduce((a, p) => a + p.windowsPlanned, 0)).toBeLessThan(2 * 360 - partial.rows[0]!.complete + 2 * 13);
    const d = await f.diff();
    expect(problems(d)).toEqual(exact(d));
  });

  it("stores records exactly on a window's edge once, in the later window", async () => {
    f = await createArchiveFixture("edges", { sim: { perDay: 100, projects: 1, days: 20 }, settings: { windowMs: H } });
    // An explicit range over the 20 days of data keeps the 1-hour grid small.
    const since = new Date(f.clock.now().getTime() - 21 * D);
    await f.sync({ since, until: f.clock.now() });
    const [p] = f.sim.projects();
    const onEdge = f.sim.visibleTruth(p!.project_id).filter((t) => /T\d\d:00:00(\.0+)?Z$/.test(t.created));
    expect(onEdge.length).toBeGreaterThan(10);
    const rows = await sql<{ request_id: string; n: number }>`
      select request_id, count(*)::int as n from deepgram_archive.requests
      where request_id = any(${onEdge.map((e) => e.request_id)}) group by request_id`.execute(f.database.db);
    const settledEnd = Math.floor((f.clock.now().getTime() - f.settings.settleMs) / H) * H;
    expect(rows.rows.length).toBe(onEdge.filter((e) => Date.parse(e.created) < settledEnd).length);
    expect(rows.rows.every((r) => r.n === 1)).toBe(true);
    // The ledger counts each edge record in exactly one window: per-window records add up to the rows.
    const sums = await sql<{ windows: number; rows: number }>`
      select (select sum(records) from deepgram_archive.sync_windows where state = 'complete')::int as windows,
             (select count(*) from deepgram_archive.requests)::int as rows`.execute(f.database.db);
    expect(sums.rows[0]!.windows).toBe(sums.rows[0]!.rows);
  });
});

describe("the 90-day horizon", () => {
  it("records a gap, once, for windows that fell off before they were archived", async () => {
    f = await createArchiveFixture("gaps", { sim: { perDay: 20, projects: 1 } });
    await f.sync();
    // The archiver stops for 100 days; the simulator keeps logging.
    f.clock.advance(100 * D);
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects[0]!.gapsRecorded).toBe(1);
    const gaps = await sql<{ gap_start: Date; gap_end: Date }>`select gap_start, gap_end from deepgram_archive.sync_gaps`.execute(f.database.db);
    expect(gaps.rows).toHaveLength(1);
    const lostFrom = Date.parse("2026-11-20T12:00:00Z");
    expect(gaps.rows[0]!.gap_start.getTime()).toBe(lostFrom);
    // To the horizon itself: the window holding it is read after the horizon passed part of it.
    expect(gaps.rows[0]!.gap_end.getTime()).toBe(f.clock.now().getTime() - 90 * D);
    const again = await f.sync();
    expect(again.projects[0]!.gapsRecorded).toBe(0);
    expect((await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.sync_gaps`.execute(f.database.db)).rows[0]!.n).toBe(1);
  });
});
