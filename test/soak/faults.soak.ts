import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { openPostgres } from "../../src/db/connection.js";
import { silentLogger } from "../../src/logger.js";
import { createSimulator, DRIFT_KINDS, type DriftKind } from "../../src/simulator/index.js";
import { mulberry32 as rng } from "../../src/simulator/prng.js";
import { runSync } from "../../src/sync/engine.js";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { createTestDatabase } from "../helpers/database.js";
import { collect, runCli, startCli } from "../helpers/cli.js";
import { diffArchive, settledVisible } from "../helpers/compare.js";
import { startTcpProxy, viaProxy } from "../helpers/tcp-proxy.js";

/**
 * Randomized runs mixing every fault of the suite over 2 projects; each run must end with an
 * exact archive. SOAK_RUNS (default 20) in-process runs, then SOAK_KILL_RUNS (default 5) runs that
 * kill -9 a `sync` child at a random moment. The totals are printed for docs/RELIABILITY.md.
 */
const RUNS = Number(process.env.SOAK_RUNS ?? 20);
const KILL_RUNS = Number(process.env.SOAK_KILL_RUNS ?? 5);
const H = 3_600_000;
const STORABLE_DRIFT: DriftKind[] = DRIFT_KINDS.filter((k) => k !== "no-request-id" && k !== "bad-created");

const totals = { runs: 0, passes: 0, faultsInjected: 0, pgCuts: 0, aborts: 0, kills: 0, rowsCompared: 0, missing: 0, duplicated: 0, stale: 0, unexpected: 0 };
let f: ArchiveFixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

async function tally(fx: ArchiveFixture): Promise<void> {
  const diffs = await fx.diff();
  // After the clock moved backward, a record archived while it was ahead can sit in a window that
  // is open again; if it changes there, no pass is due to read it until the window closes. Stale
  // is counted for records in closed windows only.
  const lastEnd = Math.floor((fx.clock.now().getTime() - fx.settings.settleMs) / fx.settings.windowMs) * fx.settings.windowMs;
  for (const [projectId, d] of Object.entries(diffs)) {
    const created = new Map(fx.sim.truth(projectId).map((t) => [t.request_id, Date.parse(t.created)]));
    const stale = d.stale.filter((id) => created.get(id)! < lastEnd);
    totals.rowsCompared += d.compared;
    totals.missing += d.missing.length;
    totals.duplicated += d.duplicated.length;
    totals.stale += stale.length;
    totals.unexpected += d.unexpected.length;
    expect({ missing: d.missing, duplicated: d.duplicated, stale, unexpected: d.unexpected }).toEqual({ missing: [], duplicated: [], stale: [], unexpected: [] });
  }
}

describe("soak", () => {
  for (let run = 1; run <= RUNS; run++) {
    it(`randomized run ${run}`, async () => {
      const r = rng(run * 7919);
      const faultRate = 0.05 + r() * 0.15;
      f = await createArchiveFixture(`soak${run}`, { sim: { seed: run, perDay: 30 + Math.floor(r() * 60), faultRate, slowMs: 2_500 } });
      const fx = f;
      const proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(fx.tdb.url!).port || 5432) });
      const database = await openPostgres({ url: viaProxy(fx.tdb.url!, proxy), target: "proxied", logger: silentLogger(), poolSize: 8 });
      try {
        for (let round = 0; round < 3; round++) {
          // Between passes the world moves: late, changed, completed and drifted records; the clock.
          if (round > 0) {
            fx.clock.advance((r() < 0.2 ? -1 : 1) * Math.floor(r() * 30) * H);
            fx.sim.control.completePending();
            // Records change while recent; older than the rescan horizon they are final (DESIGN).
            fx.sim.control.mutate(Math.floor(r() * 30), { withinHours: 60 });
            fx.sim.control.addLate(Math.floor(r() * 60), { withinHours: 60 });
            fx.sim.control.drift(Math.floor(r() * 6), { kinds: STORABLE_DRIFT, withinHours: 60, olderThanHours: 1 });
          }
          const [p] = fx.sim.projects();
          if (r() < 0.5) fx.sim.control.insertDuringPaging({ projectId: p!.project_id, count: 1 + Math.floor(r() * 5) });
          // Where to cut Postgres or abort, in committed pages: a first pass lists about one span (a
          // day) per project and page; later passes read the rescan horizon, a handful of pages.
          const reach = round === 0 ? 150 : 6;
          const cutAt = r() < 0.5 ? 1 + Math.floor(r() * reach) : -1;
          const abort = new AbortController();
          const abortAt = r() < 0.3 ? 1 + Math.floor(r() * reach) : -1;
          let pages = 0;
          await runSync(
            {
              database,
              client: fx.client,
              clock: fx.clock,
              logger: fx.logger,
              settings: fx.settings,
              onEvent: (e) => {
                if (e.type !== "page") return;
                pages++;
                if (pages === cutAt) {
                  totals.pgCuts++;
                  proxy.cut({ refuse: true });
                  setTimeout(() => proxy.restore(), 200);
                }
                if (pages === abortAt) {
                  totals.aborts++;
                  abort.abort(new Error("soak abort"));
                }
              },
            },
            { signal: abort.signal },
          );
          totals.passes++;
          // A clean pass after the faulty one: everything it needs is in the ledger.
          let outcome = "";
          for (let i = 0; i < 3 && outcome !== "succeeded"; i++) {
            // The proxy may still be refusing for a moment: a pass that cannot reach the database throws.
            await new Promise((res) => setTimeout(res, 300));
            outcome = await runSync({ database, client: fx.client, clock: fx.clock, logger: fx.logger, settings: fx.settings }).then(
              (rep) => rep.outcome,
              (err: Error) => `threw: ${err.message}`,
            );
            totals.passes++;
          }
          expect(outcome).toBe("succeeded");
        }
      } finally {
        await database.close();
        await proxy.close();
      }
      totals.faultsInjected += Object.values(fx.sim.stats().faultsInjected).reduce((a, b) => a + b, 0);
      await tally(fx);
      totals.runs++;
    });
  }

  for (let run = 1; run <= KILL_RUNS; run++) {
    it(`kill -9 run ${run}`, async () => {
      const r = rng(run * 104729);
      const key = "soak-key-91b2";
      const sim = createSimulator({ clock: systemClock, apiKey: key, seed: 100 + run, projects: 2, days: 95, perDay: 300, faultRate: 0.05 });
      await sim.start();
      const tdb = await createTestDatabase(`soakkill${run}`);
      const database = await openPostgres({ url: tdb.url, target: tdb.name, logger: silentLogger() });
      try {
        const env = { DEEPGRAM_API_KEY: key, DEEPGRAM_BASE_URL: sim.url, DATABASE_URL: tdb.url, ARCHIVER_WINDOW: "2h" };
        const child = startCli(["sync"], env);
        const done = collect(child);
        await new Promise((res) => setTimeout(res, 1_500 + r() * 6_000));
        child.kill("SIGKILL");
        const killed = await done;
        if (killed.signal === "SIGKILL") totals.kills++;
        const before = new Date();
        const again = await runCli(["sync"], env);
        expect(again.code).toBe(0);
        for (const p of sim.projects()) {
          const expected = settledVisible(sim.visibleTruth(p.project_id), before, 2 * H, 15 * 60_000);
          const d = await diffArchive(database.db, p.project_id, expected, sim.truth(p.project_id));
          totals.rowsCompared += d.compared;
          totals.missing += d.missing.length;
          totals.duplicated += d.duplicated.length;
          totals.stale += d.stale.length;
          totals.unexpected += d.unexpected.length;
          expect([d.missing, d.duplicated, d.stale, d.unexpected]).toEqual([[], [], [], []]);
        }
        totals.faultsInjected += Object.values(sim.stats().faultsInjected).reduce((a, b) => a + b, 0);
        totals.runs++;
      } finally {
        await database.close();
        await sim.stop();
        await tdb.drop();
      }
    });
  }

  it("prints the totals", () => {
    console.info(`SOAK TOTALS ${JSON.stringify(totals)}`);
    expect(totals.runs).toBe(RUNS + KILL_RUNS);
    expect(totals.missing + totals.duplicated + totals.stale + totals.unexpected).toBe(0);
  });
});
