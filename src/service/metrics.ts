import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ClientEvent } from "../deepgram/index.js";
import type { SyncEvent, SyncReport } from "../sync/report.js";
import type { ArchiveSnapshot } from "./archive-snapshot.js";

/**
 * The service's Prometheus series, on a registry of its own (never prom-client's global one, so
 * two services in one process, as in tests, do not collide). Labels are bounded: `project` is a
 * project id, `endpoint` one of five, `status` an HTTP status code, `outcome` one of four.
 */
export interface ArchiverMetrics {
  readonly registry: Registry;
  onSyncEvent(e: SyncEvent): void;
  onClientEvent(e: ClientEvent): void;
  passStarted(): void;
  passFinished(outcome: SyncReport["outcome"], durationSeconds: number): void;
  tickSkipped(): void;
  databaseUp(up: boolean): void;
  /** Sets the gauges that describe the archive itself (shared by every replica). */
  applySnapshot(s: ArchiveSnapshot): void;
}

const OUTCOMES: ReadonlyArray<SyncReport["outcome"]> = ["succeeded", "partial", "failed", "aborted"];

export function createArchiverMetrics(): ArchiverMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const passTotal = new Counter({ name: "archiver_pass_total", help: "Archiving passes by outcome.", labelNames: ["outcome"] as const, registers });
  for (const o of OUTCOMES) passTotal.inc({ outcome: o }, 0);
  const passDuration = new Histogram({
    name: "archiver_pass_duration_seconds",
    help: "Wall time of an archiving pass.",
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
    registers,
  });
  const passRunning = new Gauge({ name: "archiver_pass_running", help: "1 while this process runs a pass.", registers });
  const ticksSkipped = new Counter({ name: "archiver_ticks_skipped_total", help: "Scheduled ticks skipped because a pass was still running.", registers });
  const archived = new Counter({ name: "archiver_records_archived_total", help: "Request logs archived for the first time.", labelNames: ["project"] as const, registers });
  const changed = new Counter({ name: "archiver_records_changed_total", help: "Archived request logs whose content changed at Deepgram (previous version kept).", labelNames: ["project"] as const, registers });
  const apiRequests = new Counter({ name: "archiver_api_requests_total", help: "HTTP responses from the Deepgram API.", labelNames: ["endpoint", "status"] as const, registers });
  const apiRetries = new Counter({ name: "archiver_api_retries_total", help: "Deepgram API calls retried (429, 5xx, network errors, timeouts).", registers });
  const lastSuccess = new Gauge({ name: "archiver_last_success_timestamp_seconds", help: "End of the last pass (any replica) that archived the project without error.", labelNames: ["project"] as const, registers });
  const horizonMargin = new Gauge({ name: "archiver_horizon_margin_seconds", help: "Time until the oldest unarchived window falls off Deepgram's 90-day horizon.", labelNames: ["project"] as const, registers });
  const dirtyDays = new Gauge({ name: "archiver_dirty_days", help: "Days whose rollups wait to be rebuilt.", registers });
  const mismatchDays = new Gauge({ name: "archiver_reconcile_mismatch_days", help: "Days where the archive and Deepgram's daily usage disagree.", labelNames: ["project"] as const, registers });
  const gaps = new Gauge({ name: "archiver_gaps_total", help: "Ranges that fell off the 90-day horizon before they were archived.", labelNames: ["project"] as const, registers });
  const rows = new Gauge({ name: "archiver_archived_rows", help: "Request logs held in the archive.", labelNames: ["project"] as const, registers });
  const dbUp = new Gauge({ name: "archiver_database_up", help: "1 when the database answered the last check.", registers });

  return {
    registry,
    onSyncEvent(e) {
      if (e.type !== "page") return;
      if (e.inserted > 0) archived.inc({ project: e.projectId }, e.inserted);
      if (e.updated > 0) changed.inc({ project: e.projectId }, e.updated);
    },
    onClientEvent(e) {
      if (e.type === "response") apiRequests.inc({ endpoint: e.endpoint, status: String(e.status) });
      else apiRetries.inc();
    },
    passStarted: () => passRunning.set(1),
    passFinished(outcome, seconds) {
      passRunning.set(0);
      passTotal.inc({ outcome });
      passDuration.observe(seconds);
    },
    tickSkipped: () => ticksSkipped.inc(),
    databaseUp: (up) => dbUp.set(up ? 1 : 0),
    applySnapshot(s) {
      // Reset first so a project that left the archive does not keep a stale series.
      for (const g of [lastSuccess, horizonMargin, mismatchDays, gaps, rows]) g.reset();
      dirtyDays.set(s.dirtyDays);
      for (const p of s.projects) {
        const project = p.projectId;
        if (p.lastSuccessAt) lastSuccess.set({ project }, Date.parse(p.lastSuccessAt) / 1000);
        horizonMargin.set({ project }, p.horizonMarginSeconds);
        gaps.set({ project }, p.gaps);
        rows.set({ project }, p.rows);
        if (p.reconciliation) mismatchDays.set({ project }, p.reconciliation.mismatchDays);
      }
      // Counters per project start at 0 so rate() works from the first increment.
      for (const p of s.projects) {
        archived.inc({ project: p.projectId }, 0);
        changed.inc({ project: p.projectId }, 0);
      }
    },
  };
}
