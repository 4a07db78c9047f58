import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { openEngineDatabase, type EngineDatabase } from "../helpers/engines.js";
import type { ArchiveDatabase } from "../../src/db/connection.js";
import { silentLogger } from "../../src/logger.js";
import { ensureMonthlyPartitions } from "../../src/archive/partitions.js";
import { toRequestRow } from "../../src/archive/request-row.js";
import { commitPage, ensureProject, loadLedger, type PageCommit } from "../../src/sync/ledger.js";
import { planWindows } from "../../src/sync/planner.js";
import { sealArchive } from "../../src/retention/seals.js";

/**
 * The ledger row is the proof that a window was read to its end (DESIGN: sync_windows). What a
 * page commit does to the row when a window is read again: at the same width (a rescan), wider
 * (ARCHIVER_WINDOW grown) or narrower (shrunk).
 */
let edb: EngineDatabase;
let database: ArchiveDatabase;
const H = 3_600_000;
const NOW = Date.parse("2026-11-20T12:00:00Z");
const T0 = Date.parse("2026-11-01T00:00:00Z"); // 2h-aligned, outside the 72-hour rescan horizon

beforeAll(async () => {
  edb = await openEngineDatabase("postgres", "ledger", silentLogger());
  database = edb.database;
  await ensureMonthlyPartitions(database.db, new Date("2026-11-01T00:00:00Z"), new Date("2026-11-30T00:00:00Z"), silentLogger());
});
afterAll(async () => {
  await edb?.drop();
});

let serial = 0;
/** One page of `project`'s window [start, start + width), holding one record at `at`. */
function page(project: string, start: number, width: number, at: number, flags: { firstPage: boolean; lastPage: boolean }): PageCommit {
  const row = toRequestRow({ request_id: `r-${++serial}`, created: new Date(at).toISOString(), path: "/v1/listen" });
  return {
    projectId: project,
    windowStart: new Date(start),
    windowEnd: new Date(start + width),
    parts: 1,
    rows: [row],
    rejected: [],
    timezone: "UTC",
    now: new Date(NOW),
    expectArchived: false,
    ...flags,
  };
}

async function project(id: string): Promise<void> {
  await ensureProject(database.db, { projectId: id, name: null, raw: null, archiveStart: new Date(T0), now: new Date(NOW) });
}

async function rowsOf(id: string) {
  const r = await sql<{ start: Date; end: Date; state: string; completed: boolean }>`
    select window_start as start, window_end as "end", state, completed_at is not null as completed
    from deepgram_archive.sync_windows where project_id = ${id} order by window_start`.execute(database.db);
  return r.rows.map((x) => ({ start: x.start.getTime() - T0, end: x.end.getTime() - T0, state: x.state, completed: x.completed }));
}

/** The windows of [T0, T0 + 4h) the next pass at `width` plans, as offsets from T0 and reasons. */
async function planned(id: string, width: number) {
  const plan = planWindows({ now: NOW, windowMs: width, settleMs: 15 * 60_000, rescanMs: 72 * H, archiveStart: T0, firstSeenAt: T0, ledger: await loadLedger(database.db, id, new Date(0)) });
  return plan.windows.filter((w) => w.start < T0 + 4 * H).map((w) => ({ start: w.start - T0, end: w.end - T0, reason: w.reason }));
}

describe("a page commit on a window the ledger already holds", () => {
  it("keeps a complete window complete when a read of it at the same width stops after its first page", async () => {
    await project("same");
    await commitPage(database.db, page("same", T0, H, T0 + 60_000, { firstPage: true, lastPage: true }));
    await commitPage(database.db, page("same", T0, H, T0 + 120_000, { firstPage: true, lastPage: false }));
    expect(await rowsOf("same")).toEqual([{ start: 0, end: H, state: "complete", completed: true }]);
  });

  it("does not let a wider window's first page claim the part its read has not reached (ARCHIVER_WINDOW grown)", async () => {
    await project("wider");
    // At 1h: [0, 1h) read to its end; [1h, 2h) never read (say the pass stopped there).
    await commitPage(database.db, page("wider", T0, H, T0 + 60_000, { firstPage: true, lastPage: true }));
    expect(await planned("wider", 2 * H)).toContainEqual({ start: 0, end: 2 * H, reason: "backfill" });

    // At 2h: the window [0, 2h) commits its first page, then the read stops.
    await commitPage(database.db, page("wider", T0, 2 * H, T0 + H + 60_000, { firstPage: true, lastPage: false }));
    expect(await rowsOf("wider")).toEqual([{ start: 0, end: 2 * H, state: "in_progress", completed: false }]);
    expect(await planned("wider", 2 * H)).toContainEqual({ start: 0, end: 2 * H, reason: "backfill" });

    // Read again to its end: complete.
    await commitPage(database.db, page("wider", T0, 2 * H, T0 + H + 60_000, { firstPage: true, lastPage: true }));
    expect(await rowsOf("wider")).toEqual([{ start: 0, end: 2 * H, state: "complete", completed: true }]);
    expect((await planned("wider", 2 * H)).filter((w) => w.start === 0)).toEqual([]);
  });

  it("keeps a narrower read of a complete window complete, and plans the rest of the old width again (ARCHIVER_WINDOW shrunk)", async () => {
    await project("narrower");
    await commitPage(database.db, page("narrower", T0, 2 * H, T0 + 60_000, { firstPage: true, lastPage: true }));
    await commitPage(database.db, page("narrower", T0, H, T0 + 120_000, { firstPage: true, lastPage: false }));
    expect(await rowsOf("narrower")).toEqual([{ start: 0, end: H, state: "complete", completed: true }]);
    // [1h, 2h) has no complete row of its own now: read again rather than taken on trust.
    expect(await planned("narrower", H)).toEqual([
      { start: H, end: 2 * H, reason: "backfill" },
      { start: 2 * H, end: 3 * H, reason: "backfill" },
      { start: 3 * H, end: 4 * H, reason: "backfill" },
    ]);
  });
});

describe("sealing a day after ARCHIVER_WINDOW changed", () => {
  it("does not seal a day whose rows of two widths overlap while one hour of it was never read to its end", async () => {
    const day = Date.parse("2026-11-02T00:00:00Z");
    await project("seal");
    // At 1h: every hour of the day read to its end but 05:00, whose read stopped after a page.
    for (let h = 0; h < 24; h++) {
      await commitPage(database.db, page("seal", day + h * H, H, day + h * H + 60_000, { firstPage: true, lastPage: h !== 5 }));
    }
    // At 2h: [00:00, 02:00) and [02:00, 04:00) read again, over the 1h rows at 00:00 and 02:00;
    // those at 01:00 and 03:00 stay. The lengths add up to 25 hours; the union lacks 05:00.
    for (const h of [0, 2]) await commitPage(database.db, page("seal", day + h * H, 2 * H, day + h * H + 90_000, { firstPage: true, lastPage: true }));
    const sealedDays = async () =>
      (await sql<{ day: string }>`select day::text as day from deepgram_archive.day_seals where project_id = 'seal'`.execute(database.db)).rows.map((r) => r.day);
    const seal = () => sealArchive(database.db, { now: new Date(NOW), rescanMs: 72 * H, command: "test", logger: silentLogger() });

    await seal();
    expect(await sealedDays()).toEqual([]);
    // 05:00 read to its end: now the ledger proves the day, and it is sealed.
    await commitPage(database.db, page("seal", day + 5 * H, H, day + 5 * H + 90_000, { firstPage: true, lastPage: true }));
    await seal();
    expect(await sealedDays()).toEqual(["2026-11-02"]);
  });
});
