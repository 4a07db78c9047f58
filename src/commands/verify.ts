import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import { acceptSealedDays, verifyArchive, type VerifyReport } from "../retention/index.js";
import { COMPLIANCE_MIGRATION, openArchiveForReading, openMigratedDatabase } from "./context.js";

export interface VerifyCommandOptions {
  since: Date | null;
  until: Date | null;
  projectIds: readonly string[] | null;
  /** Re-seal the changed days as they are now (after a deliberate, documented change), with this reason. */
  acceptReason?: string;
}

export interface VerifyCommandResult {
  report: VerifyReport;
  /** Days accepted (re-sealed) and overrides of seals accepted before the report, with --accept. */
  accepted: { days: number; rows: number; sealOverrides: number } | null;
}

/** `verify [--since D] [--until D] [--project ID]... [--accept --reason TEXT]`. */
export async function verifyCommand(config: Config, deps: { logger: Logger; clock: Clock }, opts: VerifyCommandOptions): Promise<VerifyCommandResult> {
  // --accept writes (re-seals); a plain check only reads, so an auditor's read-only role can run it.
  const database = opts.acceptReason !== undefined ? await openMigratedDatabase(config, deps.logger) : await openArchiveForReading(config, deps.logger, "verify", COMPLIANCE_MIGRATION);
  try {
    let accepted: VerifyCommandResult["accepted"] = null;
    if (opts.acceptReason !== undefined) {
      const scope = {
        fromDay: opts.since ? opts.since.toISOString().slice(0, 10) : null,
        toDay: opts.until ? new Date(opts.until.getTime() - 1).toISOString().slice(0, 10) : null,
        projectIds: opts.projectIds,
      };
      const r = await acceptSealedDays(database.db, { scope, reason: opts.acceptReason, now: deps.clock.now(), command: "verify --accept" });
      accepted = { days: r.days.length, rows: r.rows, sealOverrides: r.sealOverrides };
    }
    const report = await verifyArchive(database.db, { since: opts.since, until: opts.until, projectIds: opts.projectIds, now: deps.clock.now() });
    return { report, accepted };
  } finally {
    await database.close();
  }
}

const short = (h: string | null) => (h ? h.slice(0, 12) : "-");

export function formatVerifyReport(result: VerifyCommandResult): string {
  const r = result.report;
  const lines: string[] = [];
  const a = result.accepted;
  if (a && a.days === 0 && a.sealOverrides === 0) lines.push("no changed day to accept.");
  else if (a) {
    const what = [a.days > 0 ? `${a.days} changed day(s) (${a.rows} rows)` : "", a.sealOverrides > 0 ? `${a.sealOverrides} override(s) of the seals` : ""];
    lines.push(`accepted ${what.filter(Boolean).join(" and ")} as they are now; recorded in audit_log.`);
  }
  const range = r.since || r.until ? ` (${r.since ?? "start"} .. ${r.until ?? "now"})` : "";
  lines.push(`${r.ok ? "OK" : "FAILED"}: verified the archive${range}.`);
  lines.push(`  rows hashed from raw  ${r.rowsHashed}, content hash mismatches ${r.hashMismatchCount}`);
  lines.push(`  sealed days           ${r.daysSealed}, intact ${r.daysIntact}, changed outside the archiver ${r.changedDays.length}, awaiting re-seal ${r.awaitingReseal.length}`);
  for (const m of r.hashMismatches) lines.push(`  raw edited: ${m.projectId} ${m.requestId} (created ${m.created}): raw hashes to ${short(m.rawHash)}, content_hash says ${short(m.storedHash)}`);
  for (const d of r.changedDays) {
    lines.push(
      `  changed day ${d.projectId} ${d.day}: sealed ${d.sealedRows} rows ${short(d.sealedDigest)} at ${d.sealedAt}, now ${d.currentRows} rows ${short(d.currentDigest)}`,
    );
    for (const c of d.changes) {
      const how = c.explained ? " (by the archiver)" : c.override ? ` (override #${c.override.auditId}: ${c.override.reason ?? "no reason"})` : " (no override recorded)";
      lines.push(`    ${c.kind.padEnd(15)} ${c.requestId} created ${c.created}: sealed ${short(c.sealedHash)}, now ${short(c.currentHash)}${how}`);
    }
  }
  for (const d of r.awaitingReseal) lines.push(`  re-fetched by the archiver since sealing (re-sealed by the next pass): ${d.projectId} ${d.day}, ${d.changes.length} rows`);
  for (const g of r.guardProblems) lines.push(`  guard: ${g}`);
  if (r.sealOverrideCount > 0) {
    lines.push(`  overrides of the seals themselves, not accepted: ${r.sealOverrideCount} (accept with --accept --reason after checking them)`);
    for (const o of r.sealOverrides) {
      lines.push(`    #${o.auditId} ${o.at} ${o.operation ?? ""} ${o.table} ${o.projectId ?? ""} ${o.day ?? ""} by ${o.actor}: ${o.reason ?? ""}`);
    }
  }
  if (r.overrides.length > 0) {
    lines.push(`  overrides recorded in audit_log: ${r.overrides.length}`);
    for (const o of r.overrides) lines.push(`    #${o.auditId} ${o.at} ${o.operation ?? ""} ${o.table ?? ""} ${o.requestId ?? ""} by ${o.actor}: ${o.reason ?? ""}`);
  }
  if (r.truncated) lines.push("  (listing shortened; narrow --since/--until for every row)");
  return lines.join("\n") + "\n";
}
