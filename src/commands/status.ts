import { sql } from "kysely";
import type { ArchiveDatabase } from "../db/connection.js";
import type { Clock } from "../clock.js";
import { HORIZON_MS } from "../config.js";
import { formatDuration } from "../duration.js";
import { loadLedger } from "../sync/ledger.js";
import { planWindows } from "../sync/planner.js";
import type { SyncSettings } from "../sync/engine.js";
import { readReconciliationStatus, type ReconciliationStatus } from "../usage/reconcile.js";

export interface ProjectStatus {
  projectId: string;
  name: string | null;
  archiveStart: string | null;
  rows: number;
  oldest: string | null;
  newest: string | null;
  windowsComplete: number;
  windowsClosed: number;
  gaps: number;
  gapSeconds: number;
  rejectedItems: number;
  dirtyDays: number;
  /** Archived requests per UTC day against Deepgram's daily usage, as last reconciled. */
  reconciliationDays: ReconciliationStatus;
  lastPass: { runId: string; outcome: string; finishedAt: string | null; projectOutcome: string | null; error: string | null } | null;
  /** Seconds until the oldest unarchived window falls off Deepgram's 90-day horizon. */
  horizonMarginSeconds: number;
}

export interface StatusReport {
  generatedAt: string;
  projects: ProjectStatus[];
}

/** Per project: what is archived, what is proven complete, what is lost, and how much time is left. */
export async function getStatus(database: ArchiveDatabase, clock: Clock, settings: Pick<SyncSettings, "windowMs" | "settleMs" | "rescanMs">): Promise<StatusReport> {
  const db = database.db;
  const now = clock.now();
  const projects = await sql<{ project_id: string; name: string | null; archive_start: Date | null; first_seen_at: Date; rows: number; oldest: Date | null; newest: Date | null; gaps: number; gap_seconds: number; rejected: number; dirty: number }>`
    select p.project_id, p.name, p.archive_start, p.first_seen_at,
      coalesce(r.n, 0)::int as rows, r.oldest, r.newest,
      (select count(*) from deepgram_archive.sync_gaps g where g.project_id = p.project_id)::int as gaps,
      coalesce((select sum(extract(epoch from g.gap_end - g.gap_start)) from deepgram_archive.sync_gaps g where g.project_id = p.project_id), 0)::float8 as gap_seconds,
      (select count(*) from deepgram_archive.rejected_items x where x.project_id = p.project_id)::int as rejected,
      (select count(*) from deepgram_archive.dirty_days d where d.project_id = p.project_id)::int as dirty
    from deepgram_archive.projects p
    left join lateral (
      select count(*) as n, min(created) as oldest, max(created) as newest
      from deepgram_archive.requests q where q.project_id = p.project_id
    ) r on true
    order by p.project_id`.execute(db);
  const lastRun = (
    await sql<{ run_id: string; outcome: string; finished_at: Date | null; error: string | null; details: { projects?: Array<{ projectId: string; outcome: string; error: string | null }> } }>`
      select run_id::text, outcome, finished_at, error, details from deepgram_archive.sync_runs
      where command <> 'status' order by run_id desc limit 1`.execute(db)
  ).rows[0];

  const out: ProjectStatus[] = [];
  for (const p of projects.rows) {
    const ledger = await loadLedger(db, p.project_id, new Date(0));
    const plan = p.archive_start
      ? planWindows({ now: now.getTime(), windowMs: settings.windowMs, settleMs: settings.settleMs, rescanMs: settings.rescanMs, archiveStart: p.archive_start.getTime(), firstSeenAt: p.first_seen_at.getTime(), ledger })
      : null;
    const oldestMissing = plan?.windows.find((w) => w.reason === "backfill")?.start;
    const nextOpen = Math.floor((now.getTime() - settings.settleMs) / settings.windowMs) * settings.windowMs;
    const projectRun = lastRun?.details.projects?.find((x) => x.projectId === p.project_id);
    out.push({
      projectId: p.project_id,
      name: p.name,
      archiveStart: p.archive_start?.toISOString() ?? null,
      rows: p.rows,
      oldest: p.oldest?.toISOString() ?? null,
      newest: p.newest?.toISOString() ?? null,
      windowsComplete: plan?.completeWindows ?? 0,
      windowsClosed: plan?.closedWindows ?? 0,
      gaps: p.gaps,
      gapSeconds: p.gap_seconds,
      rejectedItems: p.rejected,
      dirtyDays: p.dirty,
      reconciliationDays: await readReconciliationStatus(db, p.project_id),
      lastPass: lastRun
        ? { runId: lastRun.run_id, outcome: lastRun.outcome, finishedAt: lastRun.finished_at?.toISOString() ?? null, projectOutcome: projectRun?.outcome ?? null, error: projectRun?.error ?? null }
        : null,
      horizonMarginSeconds: Math.round(((oldestMissing ?? nextOpen) + HORIZON_MS - now.getTime()) / 1000),
    });
  }
  return { generatedAt: now.toISOString(), projects: out };
}

export function formatStatus(report: StatusReport): string {
  if (report.projects.length === 0) return "No projects archived yet. Run `deepgram-archiver sync`.\n";
  const lines: string[] = [];
  for (const p of report.projects) {
    lines.push(`${p.name ? `${p.name} ` : ""}(${p.projectId})`);
    lines.push(`  archived       ${p.rows} requests${p.oldest ? `, ${p.oldest} .. ${p.newest}` : ""}`);
    lines.push(`  windows        ${p.windowsComplete} of ${p.windowsClosed} closed windows complete`);
    lines.push(`  horizon margin ${formatDuration(p.horizonMarginSeconds * 1000)}${p.horizonMarginSeconds < 14 * 86_400 ? "  << under 14 days: archive more often" : ""}`);
    lines.push(`  gaps           ${p.gaps === 0 ? "none" : `${p.gaps} (${formatDuration(p.gapSeconds * 1000)} lost to the horizon)`}`);
    if (p.rejectedItems > 0) lines.push(`  rejected items ${p.rejectedItems} (see deepgram_archive.rejected_items)`);
    lines.push(`  dirty days     ${p.dirtyDays}`);
    const rc = p.reconciliationDays;
    lines.push(
      `  reconciliation ${rc.lastCheckedAt === null ? "never run" : `${rc.ok} days ok, ${rc.mismatch} mismatch, ${rc.partial} partial, ${rc.noVendorData} without Deepgram usage`}` +
        (rc.mismatchDays.length ? `  << mismatch on ${rc.mismatchDays.map((d) => d.day + (d.refetched ? "" : " (refetch due)")).join(", ")}` : ""),
    );
    const lp = p.lastPass;
    lines.push(`  last pass      ${lp ? `#${lp.runId} ${lp.projectOutcome ?? lp.outcome} at ${lp.finishedAt ?? "(running)"}${lp.error ? ` - ${lp.error}` : ""}` : "never"}`);
  }
  return lines.join("\n") + "\n";
}

