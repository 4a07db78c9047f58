import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import { runRetention, type RetentionReport } from "../retention/index.js";
import { openMigratedDatabase } from "./context.js";

/** `retention [--dry-run]`: applies ARCHIVER_RETENTION and ARCHIVER_ROLLUP_RETENTION, respecting legal holds. */
export async function retentionCommand(config: Config, deps: { logger: Logger; clock: Clock }, opts: { dryRun: boolean }): Promise<RetentionReport> {
  const database = await openMigratedDatabase(config, deps.logger);
  try {
    return await runRetention({ database, clock: deps.clock, logger: deps.logger, config }, { dryRun: opts.dryRun, command: "retention" });
  } finally {
    await database.close();
  }
}

export function formatRetentionReport(r: RetentionReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? "would remove" : "removed";
  lines.push(r.dryRun ? "dry run: nothing was deleted." : `retention applied at ${r.at}.`);
  if (r.cutoff === null) lines.push(`ARCHIVER_RETENTION is ${r.policy}: request logs are kept.`);
  else {
    lines.push(
      `ARCHIVER_RETENTION ${r.policy}: request logs created before ${r.cutoff} go` +
        (r.clampedToRescan ? " (the policy is shorter than ARCHIVER_RESCAN; rows stay until they leave the rescan horizon)" : "") +
        `; ${r.activeHolds} active legal hold${r.activeHolds === 1 ? "" : "s"}.`,
    );
    if (r.months.length === 0) lines.push("  nothing is older than that.");
    else {
      const w = Math.max(7, ...r.months.map((m) => m.projectId.length));
      lines.push(`  ${"project".padEnd(w)}  month    ${"method".padEnd(14)}  ${"rows".padStart(9)}  ${"versions".padStart(9)}  ${"held kept".padStart(9)}`);
      for (const m of r.months) {
        lines.push(
          `  ${m.projectId.padEnd(w)}  ${m.month}  ${m.method.padEnd(14)}  ${String(m.rows).padStart(9)}  ${String(m.versions).padStart(9)}  ${String(m.heldRowsKept).padStart(9)}`,
        );
      }
      lines.push(`  ${verb} ${r.totals.rows} request logs and ${r.totals.versions} versions; ${r.totals.heldRowsKept} held rows kept.`);
      if (r.partitionsDropped.length > 0) lines.push(`  ${r.dryRun ? "would drop" : "dropped"} partitions: ${r.partitionsDropped.join(", ")}`);
    }
  }
  if (r.rollupCutoffDay === null) lines.push(`ARCHIVER_ROLLUP_RETENTION is ${r.rollupPolicy}: rollups and vendor usage are kept.`);
  else {
    lines.push(
      `ARCHIVER_ROLLUP_RETENTION ${r.rollupPolicy}: days before ${r.rollupCutoffDay} go (held days stay): ` +
        (r.rollups.map((t) => `${t.table} ${t.rows}`).join(", ") || "nothing to remove"),
    );
  }
  if (!r.dryRun) lines.push("Recorded in deepgram_archive.audit_log.");
  return lines.join("\n") + "\n";
}
