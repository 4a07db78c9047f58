import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { formatDuration } from "../duration.js";
import { allowedPassAgeMs } from "./readiness.js";
import type { SyncReport } from "../sync/report.js";
import type { ArchiveSnapshot } from "./archive-snapshot.js";

/** Under this much time before the oldest unarchived window falls off Deepgram's horizon, say so. */
export const HORIZON_ALERT_SECONDS = 14 * 86_400;

export interface AlertOptions {
  logger: Logger;
  clock: Clock;
  /** A condition that persists is logged again this often (default 6 h); new facts are logged at once. */
  repeatMs?: number;
  /** A project that fails this many passes in a row is reported (default 3). */
  failingPasses?: number;
}

export interface Alerts {
  /** After every pass: counts passes in a row in which a project failed. */
  afterPass(report: SyncReport): void;
  /** After every pass, from the database: horizon margin, gaps, reconciliation. */
  review(snapshot: ArchiveSnapshot): void;
  /** When a tick finds a pass still running: reported once it has run longer than two schedule intervals. */
  passRunning(startedAt: Date, intervalMs: number): void;
}

/**
 * Alerts are error-level log lines in plain words, one `alert` field to filter on, so any log
 * pipeline can page on them. A condition is reported when it starts, again every `repeatMs`
 * while it lasts, and an info line says when it is over.
 */
export function createAlerts(options: AlertOptions): Alerts {
  const log = options.logger.child({ component: "alerts" });
  const repeatMs = options.repeatMs ?? 6 * 3_600_000;
  const failingPasses = options.failingPasses ?? 3;
  const active = new Map<string, { since: number; lastLogged: number; fingerprint: string }>();
  const failures = new Map<string, number>();
  const gapsSeen = new Map<string, number>();

  /** Logs when the condition is new, changed (fingerprint) or due for a reminder. */
  const raise = (key: string, fingerprint: string, fields: Record<string, unknown>, message: string): void => {
    const now = options.clock.now().getTime();
    const prev = active.get(key);
    if (prev && prev.fingerprint === fingerprint && now - prev.lastLogged < repeatMs) return;
    active.set(key, { since: prev?.since ?? now, lastLogged: now, fingerprint });
    log.error({ alert: key.split(":")[0], ...fields }, message);
  };
  const clear = (key: string, fields: Record<string, unknown>, message: string): void => {
    if (!active.delete(key)) return;
    log.info({ alert: key.split(":")[0], resolved: true, ...fields }, message);
  };
  const label = (p: { projectId: string; name: string | null }) => (p.name ? `${p.name} (${p.projectId})` : p.projectId);

  return {
    afterPass(report) {
      clear("pass_running_long:", {}, `The long pass ended: ${report.outcome}.`);
      if (report.outcome === "aborted") return;
      if (report.projects.length === 0) {
        // The pass failed before it reached any project (database, listing projects).
        const n = (failures.get("") ?? 0) + 1;
        failures.set("", report.outcome === "failed" ? n : 0);
        if (report.outcome === "failed" && n >= failingPasses) {
          raise("passes_failing:", String(n), { passesInARow: n, error: report.error }, `Archiving passes have failed ${n} times in a row: ${report.error ?? "no error text"}. Nothing is being archived.`);
        } else if (report.outcome !== "failed") clear("passes_failing:", {}, "Archiving passes succeed again.");
        return;
      }
      failures.set("", 0);
      clear("passes_failing:", {}, "Archiving passes succeed again.");
      for (const p of report.projects) {
        if (p.outcome === "skipped") continue; // another replica archives it
        const key = `project_failing:${p.projectId}`;
        if (p.outcome === "failed" || p.outcome === "partial") {
          const n = (failures.get(p.projectId) ?? 0) + 1;
          failures.set(p.projectId, n);
          if (n >= failingPasses) {
            raise(key, String(n), { projectId: p.projectId, passesInARow: n, error: p.error }, `Project ${label(p)} has failed ${n} archiving passes in a row: ${p.error ?? "no error text"}`);
          }
        } else {
          failures.set(p.projectId, 0);
          clear(key, { projectId: p.projectId }, `Project ${label(p)} is archived without errors again.`);
        }
      }
    },

    passRunning(startedAt, intervalMs) {
      const ms = options.clock.now().getTime() - startedAt.getTime();
      const allowedMs = allowedPassAgeMs(intervalMs);
      if (ms <= allowedMs) return;
      raise(
        "pass_running_long:",
        startedAt.toISOString(),
        { runningForSeconds: Math.round(ms / 1000), since: startedAt.toISOString() },
        `A pass has been running for ${formatDuration(ms)} (since ${startedAt.toISOString()}), longer than two schedule intervals (${formatDuration(allowedMs)}), ` +
          "so no other pass can start. The database or Deepgram may have stopped answering: /readyz says whether the database answers. " +
          "Stopping the service ends the pass (committed pages stay).",
      );
    },

    review(snapshot) {
      for (const p of snapshot.projects) {
        const margin = p.horizonMarginSeconds;
        const hKey = `horizon_margin:${p.projectId}`;
        // A project still in its first backfill starts at the horizon's edge by definition; until one
        // pass has archived it whole, failures are reported as failing passes and lost days as gaps.
        if (margin < HORIZON_ALERT_SECONDS && p.lastSuccessAt !== null) {
          raise(
            hKey,
            "low",
            { projectId: p.projectId, horizonMarginSeconds: margin },
            `Project ${label(p)}: request logs will fall off Deepgram's 90-day horizon in ${formatDuration(margin * 1000)}, before they are archived (under 14 days). ` +
              `Make sure passes succeed and run often enough; see deepgram-archiver status.`,
          );
        } else clear(hKey, { projectId: p.projectId, horizonMarginSeconds: margin }, `Project ${label(p)}: the horizon margin is back above 14 days.`);

        const seen = gapsSeen.get(p.projectId);
        gapsSeen.set(p.projectId, p.gaps);
        if (p.gaps > (seen ?? 0)) {
          const fresh = seen === undefined ? p.gaps : p.gaps - seen;
          raise(
            `gap:${p.projectId}`,
            String(p.gaps),
            { projectId: p.projectId, gaps: p.gaps, newGaps: fresh, gapSeconds: p.gapSeconds },
            `Project ${label(p)} has ${p.gaps} recorded gap${p.gaps === 1 ? "" : "s"} (${formatDuration(p.gapSeconds * 1000)} of request logs lost to Deepgram's 90-day horizon before they were archived); see deepgram_archive.sync_gaps.`,
          );
        }

        const rKey = `reconcile_mismatch:${p.projectId}`;
        const rec = p.reconciliation;
        if (rec && rec.mismatchDays > 0) {
          raise(
            rKey,
            `${rec.mismatchDays}:${rec.latestMismatches.join(",")}`,
            { projectId: p.projectId, mismatchDays: rec.mismatchDays, days: rec.latestMismatches },
            `Project ${label(p)}: on ${rec.mismatchDays} day${rec.mismatchDays === 1 ? "" : "s"} the archive disagrees with Deepgram's own daily usage ` +
              `(latest: ${rec.latestMismatches.join(", ")}). Run deepgram-archiver reconcile for details.`,
          );
        } else if (rec) clear(rKey, { projectId: p.projectId }, `Project ${label(p)}: reconciliation finds no mismatch any more.`);
      }
    },
  };
}
