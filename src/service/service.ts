import type { ArchiveDatabase } from "../db/connection.js";
import type { DeepgramClient } from "../deepgram/index.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { ConfigError } from "../errors.js";
import { runSync, type SyncSettings } from "../sync/engine.js";
import type { SyncReport } from "../sync/report.js";
import { loadArchiveSnapshot, type ArchiveSnapshot } from "./archive-snapshot.js";
import { createAlerts, type AlertOptions } from "./alerts.js";
import { createHttpServer, type HttpReply, type HttpServer } from "./http-server.js";
import { createArchiverMetrics, type ArchiverMetrics } from "./metrics.js";
import { assessReadiness, checkDatabase, type Readiness } from "./readiness.js";
import { createScheduler, type TickResult, type Trigger } from "./scheduler.js";
import { renderStatusPage } from "./status-page.js";

/** A job `run` does at most once a day after a pass (retention). */
export interface DailyJob {
  name: string;
  run(signal: AbortSignal): Promise<unknown>;
}

export interface ServiceDeps {
  database: ArchiveDatabase;
  client: DeepgramClient;
  clock: Clock;
  logger: Logger;
  settings: SyncSettings;
  /** Cron expression (ARCHIVER_SCHEDULE), read in settings.timezone. */
  schedule: string;
  /** null: no HTTP server (tests call `readiness()` and the routes directly). */
  http: { host: string; port: number; token: string | null } | null;
  /** Give the client's onEvent to `metrics.onClientEvent`; created here when absent. */
  metrics?: ArchiverMetrics;
  alerts?: Pick<AlertOptions, "repeatMs" | "failingPasses">;
  dailyJobs?: DailyJob[];
  /** Run a pass as soon as the service starts (default true). */
  passAtStart?: boolean;
  /** Start the cron timer (default true); tests drive passes with `tick()`. */
  cron?: boolean;
  /** A pass hit a problem no later pass can get past (a ConfigError); `run` stops and exits 2. */
  onFatal?: (err: Error) => void;
}

export interface PassSummary {
  trigger: Trigger;
  report: SyncReport;
  seconds: number;
}

export type { Readiness } from "./readiness.js";

export interface ArchiverService {
  /** Listens, schedules, starts the first pass; idempotent. Resolves once HTTP answers. */
  start(): Promise<void>;
  /** Stops scheduling, aborts the pass (HTTP calls abort, the open transaction rolls back), closes HTTP; idempotent. */
  stop(): Promise<void>;
  /** A pass now, unless one is running (then skipped, and logged). */
  tick(trigger?: Trigger): Promise<TickResult<PassSummary>>;
  readiness(): Promise<Readiness>;
  /** Base URL of the HTTP server once started, else null. */
  readonly url: string | null;
  readonly metrics: ArchiverMetrics;
  readonly intervalMs: number;
}

const DAY_MS = 86_400_000;
/** Scrapes and page views reuse a snapshot this young; a pass refreshes it at once. */
const SNAPSHOT_MAX_AGE_MS = 15_000;

/**
 * `run`: a pass at start and on the schedule, never two at once in this process; across
 * processes the per-project advisory lock in runSync decides who archives what. After each pass:
 * metrics and alerts from the database, then the daily jobs when due.
 */
export function createArchiverService(deps: ServiceDeps): ArchiverService {
  const { database, clock, settings } = deps;
  const log = deps.logger.child({ component: "service" });
  const metrics = deps.metrics ?? createArchiverMetrics();
  const alerts = createAlerts({ logger: deps.logger, clock, ...deps.alerts });
  const dailyJobs = deps.dailyJobs ?? [];
  const jobsLastRun = new Map<string, number>();
  const stopping = new AbortController();
  let passAbort: AbortController | null = null;
  let passStartedAt: Date | null = null;
  let lastPass: { outcome: SyncReport["outcome"]; finishedAt: Date; seconds: number; error: string | null } | null = null;
  let lastSuccessAt: Date | null = null;
  let startedAt: Date | null = null;
  let http: HttpServer | null = null;
  let url: string | null = null;
  let starting: Promise<void> | null = null;
  let stoppingPromise: Promise<void> | null = null;
  let snapshot: { at: number; value: ArchiveSnapshot } | null = null;
  let snapshotLoad: Promise<ArchiveSnapshot> | null = null;

  const scheduler = createScheduler<PassSummary>({
    expression: deps.schedule,
    timezone: settings.timezone,
    logger: deps.logger,
    clock,
    run: runPass,
    onSkipped: () => {
      metrics.tickSkipped();
      if (passStartedAt) alerts.passRunning(passStartedAt, scheduler.intervalMs);
    },
  });

  /** The database's view, reused while younger than `maxAgeMs`; "fresh" reads it now (after a pass). */
  async function loadSnapshot(maxAgeMs: number | "fresh"): Promise<ArchiveSnapshot> {
    if (maxAgeMs === "fresh") {
      await snapshotLoad?.catch(() => undefined);
    } else if (snapshot && clock.now().getTime() - snapshot.at <= maxAgeMs) return snapshot.value;
    snapshotLoad ??= loadArchiveSnapshot(database, clock, settings)
      .then((value) => {
        snapshot = { at: clock.now().getTime(), value };
        metrics.applySnapshot(value);
        metrics.databaseUp(true);
        return value;
      })
      .catch((err: unknown) => {
        metrics.databaseUp(false);
        throw err;
      })
      .finally(() => (snapshotLoad = null));
    return snapshotLoad;
  }

  async function runPass(trigger: Trigger): Promise<PassSummary> {
    const controller = new AbortController();
    passAbort = controller;
    const started = clock.now();
    passStartedAt = started;
    metrics.passStarted();
    log.info({ trigger }, "pass started");
    let report: SyncReport;
    try {
      report = await runSync(
        { database, client: deps.client, clock, logger: deps.logger, settings, onEvent: (e) => metrics.onSyncEvent(e) },
        { signal: controller.signal, command: "run" },
      );
    } catch (err) {
      // runSync throws only when it cannot start at all (typically: the database is unreachable).
      const message = (err as Error).message;
      report = { runId: "", outcome: controller.signal.aborted ? "aborted" : "failed", startedAt: started, finishedAt: clock.now(), projects: [], error: message, summary: null, reconciliation: null };
      if (err instanceof ConfigError) {
        // A setting the archive cannot work with (e.g. ARCHIVER_TIMEZONE changed under built rollups): every pass would fail the same way.
        log.error({ err: message }, "the configuration does not fit this archive; stopping");
        deps.onFatal?.(err);
      } else if (!controller.signal.aborted) log.error({ err: message }, "pass could not run");
    } finally {
      passAbort = null;
      passStartedAt = null;
    }
    const seconds = (report.finishedAt.getTime() - started.getTime()) / 1000;
    metrics.passFinished(report.outcome, seconds);
    lastPass = { outcome: report.outcome, finishedAt: report.finishedAt, seconds, error: report.error };
    if (report.outcome === "succeeded") lastSuccessAt = report.finishedAt;
    const projects = Object.fromEntries(report.projects.map((p) => [p.projectId, `${p.outcome}${p.outcome === "skipped" ? "" : ` +${p.inserted} ~${p.updated}`}`]));
    log[report.outcome === "succeeded" || report.outcome === "aborted" ? "info" : "warn"](
      { trigger, runId: report.runId, outcome: report.outcome, seconds, projects, err: report.error ?? undefined },
      `pass ${report.outcome}`,
    );
    alerts.afterPass(report);
    if (stopping.signal.aborted) return { trigger, report, seconds };
    try {
      alerts.review(await loadSnapshot("fresh"));
    } catch (err) {
      log.warn({ err: (err as Error).message }, "could not read the archive's state after the pass");
    }
    await runDailyJobs();
    return { trigger, report, seconds };
  }

  async function runDailyJobs(): Promise<void> {
    for (const job of dailyJobs) {
      if (stopping.signal.aborted) return;
      const now = clock.now().getTime();
      const last = jobsLastRun.get(job.name);
      if (last !== undefined && now - last < DAY_MS) continue;
      jobsLastRun.set(job.name, now);
      try {
        log.info({ job: job.name }, "daily job started");
        await job.run(stopping.signal);
        log.info({ job: job.name }, "daily job finished");
      } catch (err) {
        if (!stopping.signal.aborted) log.error({ alert: "daily_job_failed", job: job.name, err: (err as Error).message }, `The daily ${job.name} job failed: ${(err as Error).message}`);
      }
    }
  }

  async function readiness(): Promise<Readiness> {
    const databaseProblem = await checkDatabase(database);
    metrics.databaseUp(databaseProblem === null);
    return assessReadiness({
      now: clock.now(),
      intervalMs: scheduler.intervalMs,
      startedAt: startedAt ?? clock.now(),
      lastSuccessAt,
      lastPass,
      passStartedAt,
      databaseProblem,
      databaseTarget: database.target,
    });
  }

  const json = (status: number, body: unknown): HttpReply => ({ status, contentType: "application/json; charset=utf-8", body: JSON.stringify(body) + "\n" });

  const routes = {
    healthz: () => json(200, { status: "ok" }),
    async readyz() {
      const r = await readiness();
      return json(r.ready ? 200 : 503, r);
    },
    async metrics() {
      try {
        await loadSnapshot(SNAPSHOT_MAX_AGE_MS);
      } catch (err) {
        // Serve what we have: process metrics and counters still tell a story, archiver_database_up says why.
        log.warn({ err: (err as Error).message }, "metrics: could not read the archive's state");
      }
      return { status: 200, contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    async statusPage() {
      const [value, ready] = await Promise.all([loadSnapshot(SNAPSHOT_MAX_AGE_MS), readiness()]);
      const html = renderStatusPage(
        value,
        {
          schedule: deps.schedule,
          timezone: settings.timezone,
          ready,
          passRunningSince: passStartedAt,
          lastPass,
          nextRun: scheduler.nextRun(),
        },
        clock.now(),
      );
      return { status: 200, contentType: "text/html; charset=utf-8", body: html };
    },
  };

  return {
    get url() {
      return url;
    },
    metrics,
    intervalMs: scheduler.intervalMs,
    tick: (trigger = "manual") => scheduler.tick(trigger),
    readiness,
    start() {
      starting ??= (async () => {
        startedAt = clock.now();
        if (deps.http) {
          http = createHttpServer({ ...deps.http, logger: deps.logger, routes });
          url = await http.listen();
          log.info({ url, protected: deps.http.token !== null }, "http server listening: /healthz /readyz /metrics /");
        }
        await loadSnapshot("fresh").catch((err: unknown) => log.warn({ err: (err as Error).message }, "could not read the archive's state at start"));
        if (stopping.signal.aborted) return;
        if (deps.cron !== false) scheduler.start();
        log.info({ schedule: deps.schedule, timezone: settings.timezone, intervalSeconds: scheduler.intervalMs / 1000, nextRun: scheduler.nextRun()?.toISOString() }, "service started");
        if (deps.passAtStart !== false) {
          void scheduler.tick("startup").catch((err: unknown) => log.error({ err: (err as Error).message }, "startup pass threw"));
        }
      })();
      return starting;
    },
    stop() {
      stoppingPromise ??= (async () => {
        stopping.abort(new Error("the service is stopping"));
        scheduler.stop();
        await starting?.catch(() => undefined);
        const running = scheduler.running();
        if (running) {
          log.info("stopping: aborting the pass in progress (committed pages stay; the next start resumes from the ledger)");
          passAbort?.abort(new Error("the service is stopping"));
          await running.catch(() => undefined);
        }
        await http?.close();
        log.info("service stopped");
      })();
      return stoppingPromise;
    },
  };
}
