import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { DeepgramClient } from "../deepgram/index.js";
import type { Logger } from "../logger.js";
import { summarize, type SummaryReport } from "../summary/summarizer.js";
import { fetchVendorData, type VendorFetchResult, type VendorPassState } from "./vendor-fetch.js";
import { reconcile, type ReconcileRow, type ReconcileStatus } from "./reconcile.js";

const DAY_MS = 86_400_000;

export interface PassStepsDeps {
  db: Kysely<Database>;
  client: DeepgramClient;
  logger: Logger;
  signal?: AbortSignal;
}

export interface PassStepsSettings {
  now: Date;
  timezone: string;
  rescanMs: number;
  usageSinceDays: number;
  /** Days the summarizer builds at once (ARCHIVER_CONCURRENCY; the pass's fetches are done by then). */
  concurrency: number;
}

/** What a pass's reconciliation found, for the pass report. */
export interface ReconcileSummary {
  /** Days checked this pass (only those that could have changed). */
  days: number;
  counts: Record<ReconcileStatus, number>;
  /** Mismatched days whose windows the next pass fetches once more. */
  refetchDue: Array<{ projectId: string; day: string }>;
  /** Mismatched days that stay flagged (already fetched again, or past the horizon). */
  persistent: Array<{ projectId: string; day: string }>;
}

/**
 * The steps of a pass after its windows, for the projects it archived: Deepgram's daily usage
 * and key labels per project, then reconciliation (while the dirty marks still name the days
 * that changed), then the rollups. Returns what each found; `error` is set when reconciliation or
 * the summarizer failed (the rows of the pass stay committed; the pass is then partial).
 */
export async function runPassSteps(
  deps: PassStepsDeps,
  projectIds: readonly string[],
  s: PassStepsSettings,
): Promise<{ vendor: Map<string, VendorFetchResult>; summary: SummaryReport | null; reconciliation: ReconcileSummary | null; error: string | null }> {
  const vendor = new Map<string, VendorFetchResult>();
  const pass: VendorPassState = { keysForbiddenWarned: false };
  for (const projectId of projectIds) {
    if (deps.signal?.aborted) break;
    vendor.set(projectId, await fetchVendorData(deps, projectId, { now: s.now, rescanMs: s.rescanMs, usageSinceDays: s.usageSinceDays }, pass));
  }
  if (projectIds.length === 0 || deps.signal?.aborted) return { vendor, summary: null, reconciliation: null, error: null };

  let reconciliation: ReconcileSummary | null = null;
  let summary: SummaryReport | null = null;
  const errors: string[] = [];
  try {
    const result = await reconcile(deps.db, { now: s.now, projectIds, changedOnly: { recentDays: Math.ceil(s.rescanMs / DAY_MS) + 1 } });
    reconciliation = {
      days: result.rows.length,
      counts: result.counts,
      refetchDue: result.refetchDue.map(ref),
      persistent: result.persistent.map(ref),
    };
    logMismatches(deps.logger, result.refetchDue, result.persistent);
  } catch (err) {
    errors.push(`reconciliation failed: ${(err as Error).message}`);
    deps.logger.error({ err: (err as Error).message }, "reconciliation failed this pass");
  }
  try {
    summary = await summarize(deps.db, { timezone: s.timezone, now: s.now, projectIds, concurrency: s.concurrency, logger: deps.logger, signal: deps.signal });
  } catch (err) {
    errors.push(`the daily rollups could not be built: ${(err as Error).message}`);
    deps.logger.error({ err: (err as Error).message }, "summarizing failed this pass; the dirty days stay marked");
  }
  return { vendor, summary, reconciliation, error: errors.length ? errors.join("; ") : null };
}

const ref = (r: ReconcileRow) => ({ projectId: r.project_id, day: r.day });

function logMismatches(logger: Logger, due: ReconcileRow[], persistent: ReconcileRow[]): void {
  for (const [projectId, rows] of groupByProject(due)) {
    logger.warn(
      { projectId, days: rows.map(describe) },
      "archived requests disagree with Deepgram's daily usage; the windows of these days will be fetched once more on the next pass",
    );
  }
  for (const [projectId, rows] of groupByProject(persistent)) {
    logger.error(
      { projectId, days: rows.map(describe) },
      "archived requests still disagree with Deepgram's daily usage after the days were fetched again (or they are past the 90-day horizon); " +
        "they stay flagged in deepgram_archive.reconciliation: check `deepgram-archiver reconcile`",
    );
  }
}

function groupByProject(rows: ReconcileRow[]): Map<string, ReconcileRow[]> {
  const out = new Map<string, ReconcileRow[]>();
  for (const r of rows) out.set(r.project_id, [...(out.get(r.project_id) ?? []), r]);
  return out;
}

const describe = (r: ReconcileRow) => ({
  day: r.day,
  archivedRequests: r.archived_requests,
  vendorRequests: r.vendor_requests,
  archivedHours: r.archived_hours,
  vendorHours: r.vendor_hours,
});
