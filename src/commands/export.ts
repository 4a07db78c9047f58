import { existsSync } from "node:fs";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import { ConfigError } from "../errors.js";
import { exportArchive, manifestPath, verifyExportFile, type ExportCheck, type ExportFormat, type ExportManifest } from "../retention/index.js";
import { COMPLIANCE_MIGRATION, openArchiveForReading } from "./context.js";

export interface ExportCommandOptions {
  since: Date;
  until: Date;
  given: { since: string; until: string };
  format: ExportFormat;
  projectIds: readonly string[] | null;
  out: string;
}

/** `export --since D --until D --format jsonl|csv [--project ID]... --out FILE`. */
export async function exportCommand(config: Config, deps: { logger: Logger; clock: Clock }, opts: ExportCommandOptions): Promise<ExportManifest> {
  const clash = [opts.out, manifestPath(opts.out)].filter((p) => existsSync(p));
  if (clash.length > 0) throw new ConfigError([`${clash.join(" and ")} already exist${clash.length === 1 ? "s" : ""}: an export never overwrites one; choose another --out or remove it.`]);
  const database = await openArchiveForReading(config, deps.logger, "export", COMPLIANCE_MIGRATION);
  try {
    return await exportArchive(database.db, { ...opts, timezone: config.timezone, now: deps.clock.now() });
  } finally {
    await database.close();
  }
}

/** `export --verify FILE`: the file against FILE.manifest.json; needs no database. */
export function exportVerifyCommand(file: string): Promise<ExportCheck> {
  return verifyExportFile(file);
}

export function formatExport(m: ExportManifest, out: string): string {
  return (
    `exported ${m.rows} requests (${m.range.since} .. ${m.range.until}, ${m.projects.length} project${m.projects.length === 1 ? "" : "s"}) to ${out}\n` +
    `  ${m.format}, ${m.bytes} bytes, sha256 ${m.sha256}\n  manifest ${manifestPath(out)}\n`
  );
}

export function formatExportCheck(c: ExportCheck): string {
  if (c.ok) return `OK: ${c.file} matches ${c.manifest} (${c.actual!.rows} rows, ${c.actual!.bytes} bytes, sha256 ${c.actual!.sha256})\n`;
  return `FAILED: ${c.file} does not match ${c.manifest}\n${c.problems.map((p) => `  ${p}`).join("\n")}\n`;
}
