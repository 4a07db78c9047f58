import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import { runSync, type SyncOptions } from "../sync/engine.js";
import type { SyncEvent, SyncReport } from "../sync/report.js";
import { createClientFromConfig, openMigratedDatabase, syncSettings } from "./context.js";

/** `sync`: migrate, then one archiving pass. Returns the report; the CLI prints it. */
export async function syncCommand(
  config: Config,
  deps: { logger: Logger; clock: Clock; onEvent?: (e: SyncEvent) => void },
  options: SyncOptions,
): Promise<SyncReport & { retries: number }> {
  let retries = 0;
  const client = createClientFromConfig(config, deps.logger, (e) => {
    if (e.type === "retry") retries++;
  });
  const database = await openMigratedDatabase(config, deps.logger);
  try {
    const report = await runSync({ database, client, clock: deps.clock, logger: deps.logger, settings: syncSettings(config), onEvent: deps.onEvent }, options);
    return { ...report, retries };
  } finally {
    await database.close();
  }
}

export function formatSyncReport(r: SyncReport & { retries: number }): string {
  const secs = ((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000).toFixed(1);
  const lines = [`pass #${r.runId} ${r.outcome} in ${secs}s (${r.retries} HTTP retries)`];
  for (const p of r.projects) {
    lines.push(
      `  ${p.projectId}${p.name ? ` (${p.name})` : ""}: ${p.outcome}; windows ${p.windowsCompleted}/${p.windowsPlanned}, pages ${p.pages}, ` +
        `records ${p.records}, new ${p.inserted}, changed ${p.updated}` +
        (p.rejected ? `, rejected ${p.rejected}` : "") +
        (p.rereads ? `, re-read ${p.rereads}` : "") +
        (p.gapsRecorded ? `, NEW GAPS ${p.gapsRecorded}` : ""),
    );
    if (p.error && p.outcome !== "succeeded") lines.push(`    ${p.error}`);
  }
  if (r.summary) {
    const s = r.summary;
    lines.push(`  rollups (${s.timezone}): ${s.full ? "rebuilt" : "summarized"} ${s.days} days, ${s.daysChanged} changed`);
  }
  if (r.reconciliation) {
    const c = r.reconciliation;
    lines.push(
      `  reconciliation: ${c.days} days checked: ${c.counts.ok} ok, ${c.counts.mismatch} mismatch, ${c.counts.partial} partial, ${c.counts.no_vendor_data} without Deepgram usage` +
        (c.refetchDue.length ? `; ${c.refetchDue.length} to fetch again next pass` : "") +
        (c.persistent.length ? `; ${c.persistent.length} STILL MISMATCHED (see \`deepgram-archiver reconcile\`)` : ""),
    );
  }
  if (r.error && r.projects.length === 0) lines.push(`  ${r.error}`);
  return lines.join("\n") + "\n";
}
