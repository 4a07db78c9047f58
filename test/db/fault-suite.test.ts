import { afterEach, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { openPostgres } from "../../src/db/connection.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { DRIFT_KINDS } from "../../src/simulator/index.js";
import { runSync } from "../../src/sync/engine.js";
import { getStatus } from "../../src/commands/status.js";
import { createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { captureLogs } from "../helpers/log-capture.js";
import { startTcpProxy, viaProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

const H = 3_600_000;
const D = 24 * H;
let f: ArchiveFixture | undefined;
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await f?.close();
  f = undefined;
});

describe("the fault suite", () => {
  it("archives exactly through 20% API faults of every kind", async () => {
    f = await createArchiveFixture("fault20", { sim: { perDay: 80, faultRate: 0.2, slowMs: 2_500 } });
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const injected = f.sim.stats().faultsInjected;
    // Every kind was exercised.
    expect(Object.values(injected).every((n) => n > 0)).toBe(true);
    const d = await f.diff();
    expect(problems(d)).toEqual(exact(d));
  });

  it("survives losing the Postgres connection in the middle of page transactions", async () => {
    f = await createArchiveFixture("pgcut", { sim: { perDay: 80 } });
    proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(f.tdb.url!).port || 5432) });
    const { logger } = captureLogs("warn");
    const database = await openPostgres({ url: viaProxy(f.tdb.url!, proxy), target: "proxied", logger, poolSize: 8 });
    const fx = f;
    let pages = 0;
    let cuts = 0;
    let restored: Promise<void> = Promise.resolve();
    try {
      const cutRun = await runSync({
        database,
        client: fx.client,
        clock: fx.clock,
        logger,
        settings: fx.settings,
        onEvent: (e) => {
          // Cut every connection twice while pages are being committed, then let it recover.
          if (e.type === "page" && (++pages === 8 || pages === 20)) {
            cuts++;
            proxy!.cut({ refuse: true });
            const p = proxy!;
            restored = new Promise((resolve) => setTimeout(() => resolve(p.restore()), 300));
          }
        },
      });
      expect(["partial", "succeeded", "failed"]).toContain(cutRun.outcome);
      expect(cuts).toBe(2);
      expect(proxy.accepted).toBeGreaterThan(2);
      await restored;
      // Whatever that pass committed is consistent: a second pass makes the archive exact.
      const again = await runSync({ database, client: fx.client, clock: fx.clock, logger, settings: fx.settings });
      expect(again.outcome).toBe("succeeded");
    } finally {
      await database.close();
    }
    const d = await f.diff();
    expect(problems(d)).toEqual(exact(d));
    // No window claims completeness without its rows: the ledger's counts match the archive.
    const sums = await sql<{ windows: number; rows: number }>`
      select (select sum(records) from deepgram_archive.sync_windows where state = 'complete')::int as windows,
             (select count(*) from deepgram_archive.requests)::int as rows`.execute(f.database.db);
    expect(sums.rows[0]!.windows).toBe(sums.rows[0]!.rows);
  });

  it("keeps drifted items: odd shapes are archived as served, unstorable ones kept in rejected_items", async () => {
    f = await createArchiveFixture("drift", { sim: { perDay: 60, projects: 1 } });
    const [p] = f.sim.projects();
    const drifted = f.sim.control.drift(4 * DRIFT_KINDS.length, { projectId: p!.project_id });
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    const unstorable = drifted.filter((d) => d.kind === "no-request-id" || d.kind === "bad-created");
    expect(report.projects[0]!.rejected).toBe(unstorable.length);
    const rejected = await sql<{ reason: string; raw: { request_id?: string; created?: string } }>`
      select reason, raw from deepgram_archive.rejected_items order by reason`.execute(f.database.db);
    expect(rejected.rows).toHaveLength(unstorable.length);
    expect(rejected.rows.filter((r) => /request_id/.test(r.reason))).toHaveLength(unstorable.filter((u) => u.kind === "no-request-id").length);
    expect(rejected.rows.filter((r) => /created/.test(r.reason))).toHaveLength(unstorable.filter((u) => u.kind === "bad-created").length);
    // Storable drifted items are archived exactly as served, with their typed columns.
    const storable = drifted.filter((d) => !unstorable.includes(d)).map((d) => d.request_id);
    const truth = new Map(f.sim.truth(p!.project_id).map((t) => [t.request_id, t]));
    const rows = await sql<{ request_id: string; raw: unknown; status: string; code: number | null }>`
      select request_id, raw, status, code from deepgram_archive.requests where request_id = any(${storable})`.execute(f.database.db);
    expect(rows.rows).toHaveLength(new Set(storable).size);
    for (const r of rows.rows) expect(r.raw).toEqual(truth.get(r.request_id));
    // Nothing else is missing, doubled or stale (unstorable items are not expected as rows).
    const d = await f.diff();
    const lost = new Set(unstorable.map((u) => u.request_id));
    // Items served without an id appear as undefined ids: exactly the no-request-id ones.
    const missing = d[p!.project_id]!.missing;
    expect(missing.filter((id) => id === undefined)).toHaveLength(unstorable.filter((u) => u.kind === "no-request-id").length);
    expect(missing.filter((id) => id !== undefined && !lost.has(id))).toEqual([]);
    expect([d[p!.project_id]!.duplicated, d[p!.project_id]!.stale, d[p!.project_id]!.unexpected]).toEqual([[], [], []]);
    // status reports them.
    const status = await getStatus(f.database, f.clock, f.settings);
    expect(status.projects[0]!.rejectedItems).toBe(unstorable.length);
  });

  it("skips no window when the clock jumps backward and forward", async () => {
    f = await createArchiveFixture("clock", { sim: { perDay: 40 } });
    expect((await f.sync()).outcome).toBe("succeeded");
    f.clock.advance(-3 * D); // backward: nothing new, nothing lost
    expect((await f.sync()).outcome).toBe("succeeded");
    f.clock.advance(3 * D + 5 * D); // forward five days past where it was
    f.sim.control.addLate(50, { withinHours: 24 * 5 });
    expect((await f.sync()).outcome).toBe("succeeded");
    const d = await f.diff();
    expect(problems(d)).toEqual(exact(d));
    const gaps = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.sync_gaps`.execute(f.database.db);
    expect(gaps.rows[0]!.n).toBe(0);
  });

  it("records a gap for a project whose archive stopped more than 90 days ago, with an error log and in status", async () => {
    const { logger, lines } = captureLogs("info");
    f = await createArchiveFixture("stopped", { sim: { perDay: 20, projects: 1 }, logger });
    await f.sync();
    f.clock.advance(95 * D);
    await f.sync();
    const errors = lines.filter((l) => l.level >= 50 && /horizon/.test(String(l.msg)));
    expect(errors).toHaveLength(1);
    const status = await getStatus(f.database, f.clock, f.settings);
    expect(status.projects[0]!.gaps).toBe(1);
    expect(status.projects[0]!.gapSeconds).toBeCloseTo(5 * 86_400, -4);
  });

  it("stops a project whose key is revoked midway, keeping everything it committed", async () => {
    f = await createArchiveFixture("revoked", { sim: { perDay: 60 } });
    const fx = f;
    let pages = 0;
    const report = await runSync({
      database: fx.database,
      client: fx.client,
      clock: fx.clock,
      logger: fx.logger,
      settings: fx.settings,
      onEvent: (e) => {
        if (e.type === "page" && ++pages === 100) fx.sim.control.revokeKey();
      },
    });
    expect(report.outcome).toBe("failed");
    for (const p of report.projects) {
      expect(p.outcome).toBe("failed");
      expect(p.error).toMatch(/refused the API key.*member/s);
    }
    const committed = await sql<{ rows: number; windows: number }>`
      select (select count(*) from deepgram_archive.requests)::int as rows,
             (select sum(records) from deepgram_archive.sync_windows where state = 'complete')::int as windows`.execute(fx.database.db);
    expect(committed.rows[0]!.rows).toBeGreaterThan(0);
    expect(committed.rows[0]!.windows).toBeLessThanOrEqual(committed.rows[0]!.rows);
    // Once the key works again, the next pass completes the archive exactly: nothing committed was lost.
    fx.sim.control.restoreKey();
    expect((await fx.sync()).outcome).toBe("succeeded");
    const d = await fx.diff();
    expect(problems(d)).toEqual(exact(d));
  });
});

// Not a scenario of its own: a sanity check that the proxy really carries Postgres traffic.
describe("the TCP proxy helper", () => {
  it("carries a Postgres session and drops it when cut", async () => {
    f = await createArchiveFixture("proxy", { sim: { perDay: 1, projects: 1, days: 1 } });
    proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(f.tdb.url!).port || 5432) });
    const database = await openPostgres({ url: viaProxy(f.tdb.url!, proxy), target: "proxied", logger: f.logger, poolSize: 1 });
    try {
      await migrateToLatest(database.db);
      expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows[0]!.one).toBe(1);
      proxy.cut({ refuse: true });
      await expect(sql`select 1`.execute(database.db)).rejects.toThrow();
      proxy.restore();
      expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows[0]!.one).toBe(1);
    } finally {
      await database.close();
    }
  });
});
