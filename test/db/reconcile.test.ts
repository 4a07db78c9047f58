import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { HORIZON_MS } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { reconcile, type ReconcileRow } from "../../src/usage/reconcile.js";
import { formatStatus, getStatus } from "../../src/commands/status.js";
import { runSync } from "../../src/sync/engine.js";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { runCli } from "../helpers/cli.js";

const H = 3_600_000;
/** The day Deepgram's usage over-reports by 7 requests: settled, whole, well inside the horizon. */
const D = "2026-11-10";
const logLines: string[] = [];
let f: ArchiveFixture;
let firstPassAt: Date;

beforeAll(async () => {
  const logger = createLogger({ level: "warn", destination: { write: (line: string) => void logLines.push(line) } });
  f = await createArchiveFixture("reconcile", { sim: { perDay: 30 }, logger });
  for (const p of f.sim.projects()) f.sim.control.overReportUsage(p.project_id, D, 7);
  firstPassAt = f.clock.now();
});
afterAll(async () => {
  await f?.close();
});

const utcDay = (ms: number) => new Date(Math.floor(ms / 86_400_000) * 86_400_000).toISOString().slice(0, 10);
const projectIds = () => f.sim.projects().map((p) => p.project_id);
const dayRefs = (day: string) => projectIds().map((projectId) => ({ projectId, day })).sort((a, b) => a.projectId.localeCompare(b.projectId));
const sortRefs = (refs: Array<{ projectId: string; day: string }>) => [...refs].sort((a, b) => a.projectId.localeCompare(b.projectId) || a.day.localeCompare(b.day));
const errorsAbout = (day: string) =>
  logLines.map((l) => JSON.parse(l) as { level: number; msg: string; projectId?: string; days?: Array<{ day: string }> }).filter((l) => l.level === 50 && l.days?.some((d) => d.day === day));
const env = () => ({ DATABASE_URL: f.tdb.url!, LOG_LEVEL: "warn" });

describe("reconciliation against Deepgram's daily usage", () => {
  it("flags exactly the over-reported day as mismatch for each project; days the horizon cuts are partial", async () => {
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects.map((p) => [p.usageDays, p.keys])).toEqual([
      [366, 5],
      [366, 5],
    ]);
    expect(sortRefs(report.reconciliation!.refetchDue)).toEqual(dayRefs(D));
    expect(report.reconciliation!.persistent).toEqual([]);

    const result = await reconcile(f.database.db, { now: f.clock.now() });
    const today = utcDay(firstPassAt.getTime());
    const firstWhole = utcDay(firstPassAt.getTime() - HORIZON_MS + 86_400_000); // 2026-08-23
    for (const pid of projectIds()) {
      const rows = result.rows.filter((r) => r.project_id === pid);
      // Deepgram's usage reaches back ARCHIVER_USAGE_SINCE (365) days; the logs only 90.
      expect(rows.length).toBe(366);
      const expected = Object.fromEntries(rows.map((r) => [r.day, r.day < firstWhole || r.day === today ? "partial" : r.day === D ? "mismatch" : "ok"]));
      expect(Object.fromEntries(rows.map((r) => [r.day, r.status]))).toEqual(expected);
      expect(rows.filter((r) => r.status === "ok").length).toBe(88);

      const truth = f.sim.usageDay(pid, D);
      const d = rows.find((r) => r.day === D)!;
      expect([d.archived_requests, d.vendor_requests]).toEqual([truth.requests, truth.requests + 7]);
      expect(Math.abs(d.archived_hours - d.vendor_hours!)).toBeLessThan(1e-9);
      // The day the horizon cut: Deepgram counts requests the archive could never list; partial, not mismatch.
      const cut = rows.find((r) => r.day === "2026-08-22")!;
      expect(cut.status).toBe("partial");
      expect(cut.archived_requests).toBeGreaterThan(0);
      expect(cut.archived_requests).toBeLessThan(cut.vendor_requests!);
      for (const ok of rows.filter((r) => r.status === "ok")) {
        expect(ok.archived_requests).toBe(ok.vendor_requests);
        expect(Math.abs(ok.archived_hours - ok.vendor_hours!)).toBeLessThan(1e-9 * Math.max(1, ok.vendor_hours!));
      }
    }
    expect(result.counts).toEqual({ ok: 176, mismatch: 2, partial: 554, no_vendor_data: 0 });
    const figures = result.rows.filter((r) => r.status === "mismatch").map((r) => `${r.project_id} ${r.day} archived ${r.archived_requests} vs Deepgram ${r.vendor_requests}`);
    console.info(`reconcile: ${result.rows.length} project-days; ${result.counts.mismatch} mismatch (${figures.join("; ")}); ${result.counts.partial} partial; ${result.counts.ok} ok`);
  });

  it("prints JSON with `reconcile --json` and a table with the mismatches first, exiting 1", async () => {
    const json = await runCli(["reconcile", "--json"], env());
    expect(json.code).toBe(1);
    const rows = JSON.parse(json.stdout) as ReconcileRow[];
    expect(rows.length).toBe(732);
    expect(Object.keys(rows[0]!)).toEqual(["project_id", "day", "status", "archived_requests", "vendor_requests", "archived_hours", "vendor_hours"]);
    expect(sortRefs(rows.filter((r) => r.status === "mismatch").map((r) => ({ projectId: r.project_id, day: r.day })))).toEqual(dayRefs(D));

    const table = await runCli(["reconcile", "--since", "2026-11-01", "--until", "2026-11-19"], env());
    expect(table.code).toBe(1);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^project\s+day \(UTC\)\s+status\s+archived req\s+deepgram req\s+archived h\s+deepgram h$/);
    expect(lines.slice(1, 3).map((l) => l.split(/\s+/).slice(1, 3))).toEqual([
      [D, "mismatch"],
      [D, "mismatch"],
    ]);
    expect(lines[lines.length - 1]).toBe("38 days: 2 mismatch, 0 without Deepgram usage, 0 partial, 36 ok");

    const clean = await runCli(["reconcile", "--since", "2026-11-11", "--until", "2026-11-19", "--json"], env());
    expect(clean.code).toBe(0);
    expect((JSON.parse(clean.stdout) as ReconcileRow[]).map((r) => r.status)).toEqual(Array(18).fill("ok"));
  });

  it("keeps a flagged day due when the pass that planned its refetch could not fetch it", async () => {
    f.clock.advance(H);
    const seen = f.sim.stats().pageFetches.length;
    // Deepgram answers nothing but 503 once the pass has planned its windows.
    const failing = await runSync(
      { database: f.database, client: f.client, clock: f.clock, logger: f.logger, settings: f.settings, onEvent: (e) => e.type === "planned" && f.sim.control.setFaultRate(1, ["503"]) },
      {},
    );
    f.sim.control.setFaultRate(0);
    expect(failing.outcome).toBe("partial");
    expect(failing.projects.map((p) => [p.windowsCompleted, p.windowsFailed > 0])).toEqual([
      [0, true],
      [0, true],
    ]);
    expect(f.sim.stats().pageFetches.slice(seen).filter((p) => p.start.startsWith(D))).toEqual([]);
    const flags = await sql<{ refetch_count: number }>`
      select refetch_count from deepgram_archive.reconciliation where status = 'mismatch' and day = ${D}::date`.execute(f.database.db);
    expect(flags.rows).toEqual(projectIds().map(() => ({ refetch_count: 0 })));
  });

  it("fetches a mismatched day's windows once more, then keeps it flagged and logs it at error level without refetching", async () => {
    const pageStartsOf = (from: number, day: string) =>
      f.sim
        .stats()
        .pageFetches.slice(from)
        .filter((p) => p.start.startsWith(day))
        .map((p) => `${p.projectId} ${p.start}`)
        .sort();

    f.clock.advance(H);
    let seen = f.sim.stats().pageFetches.length;
    const second = await f.sync();
    expect(second.outcome).toBe("succeeded");
    const expectedStarts = projectIds()
      .flatMap((pid) => ["00", "06", "12", "18"].map((h) => `${pid} ${D}T${h}:00:00+00:00`))
      .sort();
    expect(pageStartsOf(seen, D)).toEqual(expectedStarts);
    expect(sortRefs(second.reconciliation!.persistent)).toEqual(dayRefs(D));
    expect(second.reconciliation!.refetchDue).toEqual([]);
    expect(errorsAbout(D).map((l) => l.projectId).sort()).toEqual([...projectIds()].sort());

    const flags = await sql<{ flagged_at: Date; refetch_count: number }>`
      select flagged_at, refetch_count from deepgram_archive.reconciliation where status = 'mismatch' order by project_id`.execute(f.database.db);
    expect(flags.rows).toEqual(projectIds().map(() => ({ flagged_at: firstPassAt, refetch_count: 1 })));

    f.clock.advance(H);
    seen = f.sim.stats().pageFetches.length;
    const errorsBefore = errorsAbout(D).length;
    const third = await f.sync();
    expect(pageStartsOf(seen, D)).toEqual([]);
    expect(sortRefs(third.reconciliation!.persistent)).toEqual(dayRefs(D));
    expect(errorsAbout(D).length).toBe(errorsBefore + 2);

    const status = await getStatus(f.database, f.clock, f.settings);
    for (const p of status.projects) {
      expect(p.reconciliationDays).toMatchObject({ mismatch: 1, ok: 88, mismatchDays: [{ day: D, refetched: true }] });
    }
    expect(formatStatus(status)).toContain(`1 mismatch, 277 partial, 0 without Deepgram usage  << mismatch on ${D}`);
  });

  it("clears the flag when Deepgram's figure for the day agrees again", async () => {
    for (const pid of projectIds()) f.sim.control.overReportUsage(pid, D, -7);
    f.clock.advance(H);
    const report = await f.sync();
    expect(report.reconciliation!.persistent).toEqual([]);
    const rows = await sql<{ status: string; flagged_at: Date | null; refetch_count: number }>`
      select status, flagged_at, refetch_count from deepgram_archive.reconciliation where day = ${D}::date`.execute(f.database.db);
    expect(rows.rows).toEqual(projectIds().map(() => ({ status: "ok", flagged_at: null, refetch_count: 0 })));
    const all = await reconcile(f.database.db, { now: f.clock.now() });
    expect(all.counts.mismatch).toBe(0);
  });
});
