import { sql } from "kysely";
import type { ArchiveDatabase } from "../db/connection.js";
import type { DeepgramClient } from "../deepgram/index.js";
import { isProjectFatal } from "../deepgram/index.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { HORIZON_MS } from "../config.js";
import { ensureMonthlyPartitions } from "../archive/partitions.js";
import { advanceAccountedUntil, ensureProject, loadLedger, pendingWindowStarts, recordGaps, recordWindowError } from "./ledger.js";
import { alignDown, explicitWindows, planWindows, type PlannedWindow } from "./planner.js";
import { fetchWindow, type WindowFetchDeps } from "./window-fetcher.js";
import { runBatchedPool, type BatchChoice } from "./pool.js";
import { canExtendSpan, createSpanSizer, fetchSpan } from "./span-fetcher.js";
import { finishRun, startRun } from "./run-log.js";
import type { ProjectReport, SyncEvent, SyncReport } from "./report.js";
import { claimSummaryZone } from "../summary/summary-zone.js";
import { flaggedDays, markRefetched } from "../usage/reconcile.js";
import { runPassSteps } from "../usage/pass-steps.js";
import { sealArchive } from "../retention/seals.js";

export interface SyncSettings {
  timezone: string;
  windowMs: number;
  settleMs: number;
  rescanMs: number;
  concurrency: number;
  projectIds: readonly string[] | null;
  /** ARCHIVER_USAGE_SINCE: days of /usage a project's first pass fetches (default 365). */
  usageSinceDays?: number;
}

export interface SyncDeps {
  database: ArchiveDatabase;
  client: DeepgramClient;
  clock: Clock;
  logger: Logger;
  settings: SyncSettings;
  onEvent?: (e: SyncEvent) => void;
}

export interface SyncOptions {
  /** Only these projects (else DEEPGRAM_PROJECT_IDS, else every project the key sees). */
  projectIds?: readonly string[];
  /** An explicit backfill range: these windows are read whatever the ledger says; the normal plan is not run. */
  since?: Date;
  until?: Date;
  signal?: AbortSignal;
  command?: string;
}

interface QueuedWindow {
  projectId: string;
  window: PlannedWindow;
}

type PageEvent = Parameters<NonNullable<WindowFetchDeps["onPage"]>>[0];

interface ProjectWork {
  report: ProjectReport;
  abort: AbortController;
  release: (() => Promise<void>) | null;
  /** Days reconciliation flagged for one more fetch, with their window starts. */
  flagged: Map<string, number[]>;
  /** Window starts planned, and those fetched whole, this pass. */
  planned: Set<number>;
  fetched: Set<number>;
}

/**
 * One archiving pass: plan each project's windows from the ledger, fetch them (up to
 * `concurrency` at once across projects), commit page by page, and record the pass in
 * sync_runs. A project whose key is refused or that does not exist fails alone.
 */
export async function runSync(deps: SyncDeps, options: SyncOptions = {}): Promise<SyncReport> {
  const { database, clock, logger, settings } = deps;
  const db = database.db;
  const startedAt = clock.now();
  // Before any row is written: dirty marks and rollups must all be in one zone (ConfigError, exit 2, otherwise).
  await claimSummaryZone(db, settings.timezone, startedAt);
  const runId = await startRun(db, options.command ?? "sync", startedAt);
  const log = logger.child({ runId });
  const emit = (e: SyncEvent) => deps.onEvent?.(e);
  const work = new Map<string, ProjectWork>();
  let fatal: Error | null = null;
  let steps: Awaited<ReturnType<typeof runPassSteps>> | null = null;
  let sealError: string | null = null;

  try {
    const projects = await resolveProjects(deps, options);
    const now = clock.now();
    const queue: QueuedWindow[] = [];
    for (const p of projects) {
      const report: ProjectReport = newProjectReport(p.project_id, p.name);
      const item: ProjectWork = { report, abort: new AbortController(), release: null, flagged: new Map(), planned: new Set(), fetched: new Set() };
      work.set(p.project_id, item);
      item.release = await database.tryLockProject(p.project_id, (err) => {
        // Another process may take the project now: stop its windows (what committed stays).
        if (report.outcome === "failed") return;
        report.outcome = "failed";
        report.error = `lost this project's lock: ${err.message}. The project stopped for this pass; the next pass takes the lock again.`;
        log.error({ projectId: p.project_id, err: err.message }, "project stopped: its lock's database connection was lost");
        item.abort.abort(err);
      });
      if (!item.release) {
        report.outcome = "skipped";
        report.error = "another archiver process holds this project's lock; it is being archived there";
        log.info({ projectId: p.project_id }, "project skipped: another process is archiving it");
        continue;
      }
      const marks = await ensureProject(db, {
        projectId: p.project_id,
        name: p.name,
        raw: p.raw,
        archiveStart: new Date(alignDown(now.getTime() - HORIZON_MS, settings.windowMs)),
        now,
      });
      const { windows, flagged } = await planProject(deps, p.project_id, marks, now, options, report);
      report.windowsPlanned = windows.length;
      item.flagged = flagged;
      for (const w of windows) {
        item.planned.add(w.start);
        queue.push({ projectId: p.project_id, window: w });
      }
    }
    // Oldest first across projects: the window closest to falling off the horizon goes first.
    const rank = { backfill: 0, explicit: 0, rescan: 1, flagged: 2, pending: 3 } as const;
    queue.sort((a, b) => rank[a.window.reason] - rank[b.window.reason] || a.window.start - b.window.start);
    if (queue.length > 0) {
      await ensureMonthlyPartitions(db, new Date(queue.reduce((m, q) => Math.min(m, q.window.start), Infinity)), new Date(now.getTime() + 31 * 86_400_000), log);
    }
    emit({ type: "planned", windows: queue.length, projects: projects.length });

    // Sparse adjacent windows of a project are read as one listing (a span); see span-fetcher.ts.
    const spans = createSpanSizer(settings.windowMs);
    const extendSpan = (batch: readonly QueuedWindow[], next: QueuedWindow): BatchChoice => {
      const first = batch[0]!;
      if (next.projectId !== first.projectId) return "skip";
      if (batch.length >= spans.size(first.projectId) || !canExtendSpan(batch[batch.length - 1]!.window, next.window)) return "stop";
      return "take";
    };
    await runBatchedPool(queue, settings.concurrency, options.signal, extendSpan, async (batch, handoff) => {
      const { projectId } = batch[0]!;
      const windows = batch.map((b) => b.window);
      const item = work.get(projectId)!;
      if (item.abort.signal.aborted) return;
      const signal = options.signal ? AbortSignal.any([options.signal, item.abort.signal]) : item.abort.signal;
      const fetchDeps = {
        db, client: deps.client, clock, logger: log, timezone: settings.timezone, signal,
        onPage: (p: PageEvent) => emit({ type: "page", ...p }),
        previous: handoff.previous,
        release: handoff.release,
      };
      try {
        const r = windows.length === 1 ? { ...(await fetchWindow(fetchDeps, projectId, windows[0]!)), windowRecords: null } : await fetchSpan(fetchDeps, projectId, windows);
        spans.observe(projectId, r.records, windows.length);
        for (const w of windows) item.fetched.add(w.start);
        const rep = item.report;
        rep.windowsCompleted += windows.length;
        rep.pages += r.pages;
        rep.records += r.records;
        rep.inserted += r.inserted;
        rep.updated += r.updated;
        rep.rejected += r.rejected;
        rep.rereads += r.rereads;
        for (const records of r.windowRecords ?? [r.records]) emit({ type: "window", projectId, records, ok: true });
      } catch (err) {
        if (options.signal?.aborted) throw err;
        if (item.abort.signal.aborted) return;
        const rep = item.report;
        const message = (err as Error).message;
        // One transaction at a time per worker (pool.ts, Handoff), this batch's error included.
        await handoff.previous;
        for (const window of windows) {
          await recordWindowError(db, { projectId, start: new Date(window.start), end: new Date(window.end), parts: window.parts, error: message, now: clock.now() }).catch(() => undefined);
          emit({ type: "window", projectId, records: 0, ok: false });
        }
        if (isProjectFatal(err)) {
          rep.outcome = "failed";
          rep.error = message;
          item.abort.abort(err);
          log.error({ projectId, err: message }, "project stopped: Deepgram refused it");
          return;
        }
        rep.windowsFailed += windows.length;
        rep.error ??= message;
        log.error({ projectId, window: new Date(windows[0]!.start).toISOString(), windows: windows.length, err: message }, "window could not be archived this pass");
      }
    });
    const active = [...work.values()].filter((w) => w.release && w.report.outcome !== "failed");
    // A flagged day is fetched again once every window of it this pass planned was fetched whole.
    for (const w of active) {
      const done = [...w.flagged].filter(([, starts]) => {
        const planned = starts.filter((t) => w.planned.has(t));
        return planned.length > 0 && planned.every((t) => w.fetched.has(t));
      });
      await markRefetched(db, w.report.projectId, done.map(([day]) => day));
    }
    // Deepgram's daily usage and key labels, then reconciliation and the rollups (DESIGN steps 4-6).
    steps = await runPassSteps(
      { db, client: deps.client, logger: log, signal: options.signal },
      active.map((w) => w.report.projectId),
      { now: clock.now(), timezone: settings.timezone, rescanMs: settings.rescanMs, usageSinceDays: settings.usageSinceDays ?? 365, concurrency: settings.concurrency },
    );
    for (const w of active) {
      const v = steps.vendor.get(w.report.projectId);
      if (!v) continue;
      w.report.usageDays = v.usageDays;
      w.report.usageDaysChanged = v.usageDaysChanged;
      w.report.keys = v.keys;
      if (v.usageError && w.report.outcome === "succeeded") w.report.outcome = "partial";
      if (v.usageError) w.report.error ??= v.usageError;
    }
    // Seal the days that left the rescan horizon; re-seal those this pass changed (src/retention/seals.ts).
    if (!options.signal?.aborted) {
      // Every record is archived either way, but the days' proof is not: the pass is partial.
      await sealArchive(db, { now: clock.now(), rescanMs: settings.rescanMs, command: options.command ?? "sync", logger: log }).catch((err) => {
        sealError = `could not seal archive days (the next pass tries again): ${(err as Error).message}`;
        log.error({ err: (err as Error).message }, "could not seal archive days; the next pass tries again");
      });
    }
  } catch (err) {
    fatal = err as Error;
  } finally {
    await Promise.all([...work.values()].map((w) => w.release?.().catch(() => undefined)));
  }

  const reports = [...work.values()].map((w) => finalizeOutcome(w.report));
  const aborted = options.signal?.aborted ?? false;
  const outcome: SyncReport["outcome"] = aborted
    ? "aborted"
    : fatal
      ? "failed"
      : reports.some((r) => r.outcome === "failed" || r.outcome === "partial")
        ? reports.every((r) => r.outcome === "failed")
          ? "failed"
          : "partial"
        : steps?.error || sealError
          ? "partial"
          : "succeeded";
  const error = fatal?.message ?? (outcome === "succeeded" ? null : (reports.find((r) => r.error && r.outcome !== "skipped")?.error ?? steps?.error ?? sealError ?? null));
  const report: SyncReport = {
    runId,
    outcome,
    startedAt,
    finishedAt: clock.now(),
    projects: reports,
    error,
    summary: steps?.summary ?? null,
    reconciliation: steps?.reconciliation ?? null,
  };
  await finishRun(db, report).catch((err) => log.error({ err: (err as Error).message }, "could not record the pass in sync_runs"));
  if (fatal && !aborted) log.error({ err: fatal.message }, "pass failed");
  return report;
}

async function resolveProjects(deps: SyncDeps, options: SyncOptions): Promise<Array<{ project_id: string; name: string | null; raw: unknown }>> {
  const wanted = options.projectIds?.length ? options.projectIds : deps.settings.projectIds;
  if (wanted && wanted.length > 0) {
    // Names are best effort: a key may list projects it cannot see in full.
    const known = await deps.client.listProjects(options.signal).catch(() => []);
    const byId = new Map(known.map((p) => [p.project_id, p]));
    return wanted.map((id) => ({ project_id: id, name: byId.get(id)?.name ?? null, raw: byId.get(id)?.raw ?? null }));
  }
  const all = await deps.client.listProjects(options.signal);
  if (all.length === 0) throw new Error("The Deepgram key sees no projects. Give the key a role in the projects to archive, or set DEEPGRAM_PROJECT_IDS.");
  return all;
}

async function planProject(
  deps: SyncDeps,
  projectId: string,
  marks: { archiveStart: Date; accountedUntil: Date | null; firstSeenAt: Date },
  now: Date,
  options: SyncOptions,
  report: ProjectReport,
): Promise<{ windows: PlannedWindow[]; flagged: Map<string, number[]> }> {
  const { settings, database, logger } = deps;
  const db = database.db;
  const horizon = new Date(now.getTime() - HORIZON_MS - settings.windowMs);
  // Read the ledger from the watermark: before it every window is complete or recorded as lost.
  const from = new Date(Math.min(horizon.getTime(), Math.max(marks.archiveStart.getTime(), marks.accountedUntil?.getTime() ?? 0)));
  const ledger = await loadLedger(db, projectId, from);
  if (options.since || options.until) {
    const windows = explicitWindows({
      since: (options.since ?? new Date(now.getTime() - HORIZON_MS)).getTime(),
      until: (options.until ?? now).getTime(),
      now: now.getTime(),
      windowMs: settings.windowMs,
      settleMs: settings.settleMs,
      ledger,
    });
    return { windows, flagged: new Map() };
  }
  const pendingStarts = await pendingWindowStarts(db, projectId, horizon, settings.windowMs);
  const flagged = await flaggedDays(db, projectId, { now, windowMs: settings.windowMs });
  const plan = planWindows({
    now: now.getTime(),
    windowMs: settings.windowMs,
    settleMs: settings.settleMs,
    rescanMs: settings.rescanMs,
    archiveStart: marks.archiveStart.getTime(),
    firstSeenAt: marks.firstSeenAt.getTime(),
    accountedUntil: marks.accountedUntil?.getTime(),
    ledger,
    pendingStarts,
    flaggedStarts: new Set([...flagged.values()].flat()),
  });
  if (plan.gaps.length > 0) {
    await recordGaps(db, { projectId, lost: plan.lost, gaps: plan.gaps, now });
    for (const g of plan.gaps) {
      logger.error(
        { projectId, gapStart: new Date(g.start).toISOString(), gapEnd: new Date(g.end).toISOString() },
        "request logs fell off Deepgram's 90-day horizon before they were archived; recorded in sync_gaps. Run the archiver at least daily to prevent this.",
      );
    }
    report.gapsRecorded = plan.gaps.length;
  }
  await advanceAccountedUntil(db, projectId, new Date(plan.accountedUntil));
  return { windows: plan.windows, flagged };
}

function newProjectReport(projectId: string, name: string | null): ProjectReport {
  return {
    projectId,
    name,
    outcome: "succeeded",
    windowsPlanned: 0,
    windowsCompleted: 0,
    windowsFailed: 0,
    pages: 0,
    records: 0,
    inserted: 0,
    updated: 0,
    rejected: 0,
    rereads: 0,
    gapsRecorded: 0,
    usageDays: 0,
    usageDaysChanged: 0,
    keys: null,
    error: null,
  };
}

function finalizeOutcome(r: ProjectReport): ProjectReport {
  if (r.outcome === "succeeded" && r.windowsCompleted < r.windowsPlanned) r.outcome = "partial";
  return r;
}

/** Used by status and tests: the number of request rows archived for a project. */
export async function countArchived(database: ArchiveDatabase, projectId: string): Promise<number> {
  const r = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.requests where project_id = ${projectId}`.execute(database.db);
  return r.rows[0]!.n;
}
