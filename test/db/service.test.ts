import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { API_KEY, createArchiveFixture, exact, problems, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { captureLogs, LEVEL } from "../helpers/log-capture.js";
import { createDeepgramClient } from "../../src/deepgram/index.js";
import { createArchiverMetrics } from "../../src/service/metrics.js";
import { createArchiverService, type ArchiverService } from "../../src/service/service.js";
import { getStatus } from "../../src/commands/status.js";
import { formatDuration } from "../../src/duration.js";
import { openPostgres } from "../../src/db/connection.js";
import { silentLogger } from "../../src/logger.js";
import { assessReadiness, checkDatabase } from "../../src/service/readiness.js";
import { createTestDatabase } from "../helpers/database.js";
import { ENGINES } from "../helpers/engines.js";
import { loadArchiveSnapshot } from "../../src/service/archive-snapshot.js";
import { createAlerts } from "../../src/service/alerts.js";
import { renderStatusPage } from "../../src/service/status-page.js";
import type { ProjectReport } from "../../src/sync/report.js";

const TOKEN = "status-token-0123456789abcdef";
const SCHEDULE = "*/10 * * * * *";
const D = 86_400_000;

let f: ArchiveFixture;
let service: ArchiverService;
let dailyRuns = 0;
const log = captureLogs("info");

beforeAll(async () => {
  f = await createArchiveFixture("service", { sim: { projects: 2, perDay: 40 }, settings: { windowMs: 24 * 3_600_000 } });
  const metrics = createArchiverMetrics();
  const client = createDeepgramClient({
    baseUrl: f.sim.url,
    apiKey: API_KEY,
    timeoutMs: 2_000,
    retries: 8,
    minDelayMs: 1,
    maxDelayMs: 20,
    clock: f.clock,
    onEvent: (e) => metrics.onClientEvent(e),
  });
  service = createArchiverService({
    database: f.database,
    client,
    clock: f.clock,
    logger: log.logger,
    settings: f.settings,
    schedule: SCHEDULE,
    http: { host: "127.0.0.1", port: 0, token: TOKEN },
    metrics,
    cron: false,
    passAtStart: false,
    alerts: { failingPasses: 2 },
    dailyJobs: [{ name: "counter", run: async () => void dailyRuns++ }],
  });
  await service.start();
});
afterAll(async () => {
  await service?.stop();
  await f?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(service.url + path, { headers });
const auth = { authorization: `Bearer ${TOKEN}` };
const sampleOf = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("the service", () => {
  it("answers /healthz at once and is ready during its first two schedule intervals", async () => {
    const health = await get("/healthz");
    expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);
    expect(service.intervalMs).toBe(10_000);
    const ready = await get("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, reason: null, database: "ok", lastSuccessAt: null, lastPass: null, passRunning: false, allowedAgeSeconds: 20 });
  });

  it("archives exactly on a tick and reports it in /metrics", async () => {
    const tick = await service.tick();
    if (!tick.ran) throw new Error(`tick skipped: ${tick.reason}`);
    expect(tick.result.report.outcome).toBe("succeeded");
    const diffs = await f.diff();
    expect(problems(diffs)).toEqual(exact(diffs));
    expect(dailyRuns).toBe(1);

    const res = await get("/metrics", auth);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(sampleOf(text, 'archiver_pass_total{outcome="succeeded"}')).toBe(1);
    expect(sampleOf(text, 'archiver_pass_total{outcome="failed"}')).toBe(0);
    expect(sampleOf(text, "archiver_pass_duration_seconds_count")).toBe(1);
    expect(sampleOf(text, "archiver_dirty_days")).toBe(0);
    expect(sampleOf(text, 'archiver_api_requests_total{endpoint="requests",status="200"}')).toBe(f.sim.stats().pagesServed);
    expect(sampleOf(text, "archiver_api_retries_total")).toBe(0);
    const status = await getStatus(f.database, f.clock, f.settings);
    const finished = (await sql<{ t: number }>`select extract(epoch from finished_at)::float8 as t from deepgram_archive.sync_runs order by run_id desc limit 1`.execute(f.database.db)).rows[0]!.t;
    for (const p of f.sim.projects()) {
      const rows = status.projects.find((s) => s.projectId === p.project_id)!;
      const label = `{project="${p.project_id}"}`;
      expect(sampleOf(text, `archiver_records_archived_total${label}`)).toBe(rows.rows);
      expect(sampleOf(text, `archiver_records_changed_total${label}`)).toBe(0);
      expect(sampleOf(text, `archiver_archived_rows${label}`)).toBe(rows.rows);
      expect(sampleOf(text, `archiver_horizon_margin_seconds${label}`)).toBe(rows.horizonMarginSeconds);
      expect(sampleOf(text, `archiver_gaps_total${label}`)).toBe(0);
      expect(sampleOf(text, `archiver_reconcile_mismatch_days${label}`)).toBe(0);
      expect(sampleOf(text, `archiver_last_success_timestamp_seconds${label}`)).toBe(finished);
    }
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(TOKEN);
  });

  it("guards /metrics and / with the token and leaves the probes open", async () => {
    const basic = `Basic ${Buffer.from(`anyone:${TOKEN}`).toString("base64")}`;
    const codes = async (path: string) => [
      (await get(path)).status,
      (await get(path, { authorization: "Bearer wrong-token-0123456789abcdef" })).status,
      (await get(path, { authorization: `Bearer ${TOKEN}x` })).status,
      (await get(path, auth)).status,
      (await get(path, { authorization: basic })).status,
    ];
    expect(await codes("/metrics")).toEqual([401, 401, 401, 200, 200]);
    expect(await codes("/")).toEqual([401, 401, 401, 200, 200]);
    expect(await codes("/healthz")).toEqual([200, 200, 200, 200, 200]);
    expect(await codes("/readyz")).toEqual([200, 200, 200, 200, 200]);
    const denied = await get("/");
    expect(denied.headers.get("www-authenticate")).toBe('Basic realm="deepgram-archiver", charset="UTF-8", Bearer realm="deepgram-archiver"');
    expect((await get("/nope")).status).toBe(404);
    expect((await fetch(service.url + "/healthz", { method: "POST" })).status).toBe(405);
    const page = await (await get("/", auth)).text();
    expect(page).not.toContain(API_KEY);
    expect(page).not.toContain(TOKEN);
    expect(page).not.toContain(f.tdb.name);
  });

  it("turns /readyz to 503 with a plain reason once no pass succeeded for two intervals", async () => {
    f.clock.advance(21_000);
    const res = await get("/readyz");
    expect(res.status).toBe(503);
    const body = (await res.json()) as { ready: boolean; reason: string };
    expect([body.ready, body.reason]).toEqual([false, "no pass has succeeded for 21s (two schedule intervals are 20s)"]);
    const tick = await service.tick("schedule");
    expect(tick.ran).toBe(true);
    expect((await get("/readyz")).status).toBe(200);
    expect(dailyRuns).toBe(1); // once a day, not once a pass
  });

  it("is not ready when the database does not answer, and says which one", async () => {
    const scratch = await createTestDatabase("svc_db_down");
    const gone = await openPostgres({ url: scratch.url, target: scratch.name, logger: silentLogger() });
    try {
      await scratch.drop(); // with (force): the pool's sessions end
      const problem = await checkDatabase(gone);
      expect(problem).not.toBeNull();
      const r = assessReadiness({
        now: f.clock.now(),
        intervalMs: 10_000,
        startedAt: f.clock.now(),
        lastSuccessAt: f.clock.now(),
        lastPass: null,
        passStartedAt: null,
        databaseProblem: problem,
        databaseTarget: scratch.name,
      });
      expect([r.ready, r.database, r.reason]).toEqual([false, "unreachable", `the database ${scratch.name} does not answer: ${problem}`]);
    } finally {
      await gone.close().catch(() => undefined);
    }
  });

  it("skips a tick that finds a pass running, and says so in the log", async () => {
    f.sim.control.setLatency(150);
    try {
      const first = service.tick("schedule");
      const second = await service.tick("schedule");
      expect(second).toEqual({ ran: false, reason: "a pass (schedule) has been running for 0s" });
      expect((await first).ran).toBe(true);
    } finally {
      f.sim.control.setLatency(0);
    }
    expect(log.lines.filter((l) => l.msg.includes("tick skipped")).map((l) => [l.level, l.msg])).toEqual([[LEVEL.info, "schedule tick skipped: a pass (schedule) has been running for 0s"]]);
    const text = await (await get("/metrics", auth)).text();
    expect(sampleOf(text, "archiver_ticks_skipped_total")).toBe(1);
  });

  it("raises an alert when a skipped tick finds a pass running past two schedule intervals, and clears it when the pass ends", async () => {
    // The pass waits on sync_runs, as it would on a database that stopped answering.
    const blocker = new pg.Client({ connectionString: f.tdb.url! });
    await blocker.connect();
    const before = log.lines.length;
    try {
      await blocker.query("begin");
      await blocker.query("lock table deepgram_archive.sync_runs in access exclusive mode");
      const started = f.clock.now();
      const pass = service.tick("schedule");
      f.clock.advance(20_000); // exactly two intervals of */10 s: not yet
      expect((await service.tick("schedule")).ran).toBe(false);
      f.clock.advance(5_000);
      expect((await service.tick("schedule")).ran).toBe(false);
      f.clock.advance(10_000); // the same pass again: reminded only every 6 h
      expect((await service.tick("schedule")).ran).toBe(false);
      await blocker.query("rollback");
      expect((await pass).ran).toBe(true);
      const lines = log.lines.slice(before).filter((l) => l.alert === "pass_running_long");
      expect(lines.map((l) => [l.level, l.msg, l.runningForSeconds, l.resolved])).toEqual([
        [
          LEVEL.error,
          `A pass has been running for 25s (since ${started.toISOString()}), longer than two schedule intervals (20s), so no other pass can start. ` +
            "The database or Deepgram may have stopped answering: /readyz says whether the database answers. Stopping the service ends the pass (committed pages stay).",
          25,
          undefined,
        ],
        [LEVEL.info, "The long pass ended: succeeded.", undefined, true],
      ]);
    } finally {
      await blocker.query("rollback").catch(() => undefined);
      await blocker.end();
    }
  });

  it("logs plain-word alerts: a failing project, a shrinking horizon margin, a gap, a reconciliation mismatch", async () => {
    const [p1, p2] = f.sim.projects();
    const name1 = `${p1!.name} (${p1!.project_id})`;
    const name2 = `${p2!.name} (${p2!.project_id})`;
    f.sim.control.forbidProject(p1!.project_id);
    f.clock.advance(80 * D);
    const before = log.lines.length;
    await service.tick();
    await service.tick();
    expect(dailyRuns).toBe(2);
    const margin = (await getStatus(f.database, f.clock, f.settings)).projects.find((p) => p.projectId === p1!.project_id)!.horizonMarginSeconds;
    expect(margin).toBeLessThan(14 * 86_400);
    const alerts = () => log.lines.slice(before).filter((l) => l.alert !== undefined && l.level === LEVEL.error);
    expect(alerts().map((l) => [l.alert, l.msg])).toEqual([
      [
        "horizon_margin",
        `Project ${name1}: request logs will fall off Deepgram's 90-day horizon in ${formatDuration(margin * 1000 + 0)}, before they are archived (under 14 days). ` +
          "Make sure passes succeed and run often enough; see deepgram-archiver status.",
      ],
      ["project_failing", expect.stringMatching(new RegExp(`^Project ${escape(name1)} has failed 2 archiving passes in a row: .*403`))],
    ]);

    // Past the horizon: the unarchived days of project 1 are lost and recorded as a gap.
    f.clock.advance(11 * D);
    const day = new Date(f.clock.now().getTime() - 2 * D).toISOString().slice(0, 10);
    f.sim.control.overReportUsage(p2!.project_id, day, 7);
    const mark = log.lines.length;
    await service.tick();
    const fresh = log.lines.slice(mark).filter((l) => l.alert !== undefined && l.level === LEVEL.error);
    const gapLine = fresh.find((l) => l.alert === "gap");
    const gaps = await sql<{ n: number; s: number }>`
      select count(*)::int as n, sum(extract(epoch from gap_end - gap_start))::float8 as s from deepgram_archive.sync_gaps where project_id = ${p1!.project_id}`.execute(f.database.db);
    expect(gaps.rows[0]!.n).toBe(1);
    expect(gapLine?.msg).toBe(
      `Project ${name1} has 1 recorded gap (${formatDuration(gaps.rows[0]!.s * 1000)} of request logs lost to Deepgram's 90-day horizon before they were archived); see deepgram_archive.sync_gaps.`,
    );
    expect(fresh.find((l) => l.alert === "reconcile_mismatch")?.msg).toBe(
      `Project ${name2}: on 1 day the archive disagrees with Deepgram's own daily usage (latest: ${day}). Run deepgram-archiver reconcile for details.`,
    );
    expect(fresh.find((l) => l.alert === "project_failing")?.msg).toMatch(/has failed 3 archiving passes in a row/);
    const text = await (await get("/metrics", auth)).text();
    expect(sampleOf(text, `archiver_gaps_total{project="${p1!.project_id}"}`)).toBe(1);
    expect(sampleOf(text, `archiver_reconcile_mismatch_days{project="${p2!.project_id}"}`)).toBe(1);
  });

  it("stops idempotently, aborting the pass in progress", async () => {
    f.sim.control.setLatency(300);
    const pass = service.tick();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await Promise.all([service.stop(), service.stop()]);
    const ms = Date.now() - started;
    const result = await pass;
    expect(result.ran && result.result.report.outcome).toBe("aborted");
    expect(ms).toBeLessThan(2_000);
    const runs = await sql<{ outcome: string }>`select outcome from deepgram_archive.sync_runs order by run_id desc limit 1`.execute(f.database.db);
    expect(runs.rows.map((r) => r.outcome)).toEqual(["aborted"]);
    await expect(fetch(service.url + "/healthz")).rejects.toThrow();
    await service.stop();
    f.sim.control.setLatency(0);
  });
});

describe.each(ENGINES)("the archive snapshot on %s", (engine) => {
  let g: ArchiveFixture;
  beforeAll(async () => {
    g = await createArchiveFixture(`snapshot_${engine}`, { engine, sim: { projects: 2, perDay: 5 }, settings: { windowMs: 24 * 3_600_000 } });
  });
  afterAll(async () => {
    await g?.close();
  });

  it("keeps a project's last success and last attempt however many passes came after them", async () => {
    const db = g.database.db;
    const [p1, p2] = g.sim.projects();
    const first = await g.sync();
    expect(first.outcome).toBe("succeeded");
    const t0 = first.finishedAt;
    const reports = (edit: (r: ProjectReport) => Partial<ProjectReport>) => JSON.stringify({ projects: first.projects.map((r) => ({ ...r, ...edit(r) })) });
    const refused = "Deepgram refused the key for this project (403)";
    // 80 days at */15 (7680 passes) without a success for project 1: its key was refused, then for the
    // last 2100 passes another replica held its lock. Project 2 succeeded in every one of them.
    const passes = async (count: number, from: Date, details: string) =>
      sql`insert into deepgram_archive.sync_runs (command, started_at, finished_at, outcome, projects, error, details)
        select 'run', ${from}::timestamptz + i * interval '15 minutes', ${from}::timestamptz + i * interval '15 minutes' + interval '20 seconds', 'partial', 2, ${refused}, ${details}::jsonb
        from generate_series(1, ${count}::int) i order by i`.execute(db);
    const refusedPasses = 7680 - 2100;
    await passes(refusedPasses, t0, reports((r) => (r.projectId === p1!.project_id ? { outcome: "failed", error: refused } : {})));
    const lastRefused = (await sql<{ run_id: string; finished_at: Date }>`
      select r.run_id::text as run_id, r.finished_at from deepgram_archive.sync_runs r order by r.run_id desc limit 1`.execute(db)).rows[0]!;
    const busy = "another archiver process holds this project's lock; it is being archived there";
    await passes(2100, new Date(t0.getTime() + refusedPasses * 15 * 60_000), reports((r) => (r.projectId === p1!.project_id ? { outcome: "skipped", error: busy } : {})));
    g.clock.advance(80 * D + 3_600_000);
    // A pass of project 2 alone (sync --project): project 1 is not in its details at all.
    const last = await g.sync({ projectIds: [p2!.project_id] });
    expect(last.outcome).toBe("succeeded");

    const snapshot = await loadArchiveSnapshot(g.database, g.clock, g.settings);
    const [s1, s2] = [p1, p2].map((p) => snapshot.projects.find((x) => x.projectId === p!.project_id)!);
    expect(s1!.lastSuccessAt).toBe(t0.toISOString());
    expect(s1!.lastAttempt).toEqual({ runId: lastRefused.run_id, outcome: "failed", finishedAt: lastRefused.finished_at.toISOString(), error: refused });
    expect(s2!.lastSuccessAt).toBe(last.finishedAt.toISOString());
    expect(s2!.lastAttempt).toEqual({ runId: last.runId, outcome: "succeeded", finishedAt: last.finishedAt.toISOString(), error: null });

    // What depends on it: the staleness series, the horizon alert (held back while lastSuccessAt is
    // null, for a first backfill) and the status page.
    const metrics = createArchiverMetrics();
    metrics.applySnapshot(snapshot);
    expect(sampleOf(await metrics.registry.metrics(), `archiver_last_success_timestamp_seconds{project="${p1!.project_id}"}`)).toBe(t0.getTime() / 1000);
    expect(s1!.horizonMarginSeconds).toBeLessThan(14 * 86_400);
    const logs = captureLogs("info");
    createAlerts({ logger: logs.logger, clock: g.clock }).review(snapshot);
    expect(logs.lines.filter((l) => l.level === LEVEL.error && l.alert === "horizon_margin").map((l) => l.projectId)).toEqual([p1!.project_id]);
    const page = renderStatusPage(snapshot, { schedule: "*/15 * * * *", timezone: "UTC", ready: { ready: true, reason: null }, passRunningSince: null, lastPass: null, nextRun: null }, g.clock.now());
    const card = page.split("<article").find((a) => a.includes(p1!.project_id))!;
    expect(card).toContain(`<dt>Last success</dt><dd>${t0.toISOString().slice(0, 16).replace("T", " ")} UTC (`);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
