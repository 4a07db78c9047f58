import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import { addHold, listHolds, releaseHold, type LegalHold } from "../retention/index.js";
import { COMPLIANCE_MIGRATION, openArchiveForReading, openMigratedDatabase } from "./context.js";

type Deps = { logger: Logger; clock: Clock };

async function withDatabase<T>(config: Config, deps: Deps, fn: (db: Awaited<ReturnType<typeof openMigratedDatabase>>) => Promise<T>): Promise<T> {
  const database = await openMigratedDatabase(config, deps.logger);
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}

/** `hold add --since D --until D --reason TEXT [--project ID]`. */
export function holdAddCommand(config: Config, deps: Deps, h: { since: Date; until: Date; reason: string; projectId: string | null }): Promise<LegalHold> {
  return withDatabase(config, deps, (database) => addHold(database.db, { ...h, now: deps.clock.now(), command: "hold add" }));
}

/** `hold list [--all]`: active holds (and released ones with --all), with the rows each covers now. */
export async function holdListCommand(config: Config, deps: Deps, opts: { includeReleased: boolean }): Promise<Array<LegalHold & { rows: number }>> {
  const database = await openArchiveForReading(config, deps.logger, "hold list", COMPLIANCE_MIGRATION);
  try {
    return await listHolds(database.db, opts);
  } finally {
    await database.close();
  }
}

/** `hold release ID --reason TEXT`. */
export function holdReleaseCommand(config: Config, deps: Deps, r: { holdId: string; reason: string }): Promise<LegalHold> {
  return withDatabase(config, deps, (database) => releaseHold(database.db, { ...r, now: deps.clock.now(), command: "hold release" }));
}

export function formatHold(h: LegalHold, verb: string): string {
  return `hold ${h.holdId} ${verb}: ${h.projectId ?? "all projects"}, requests created ${h.since} .. ${h.until} (reason: ${h.reason})\n`;
}

export function formatHoldList(holds: Array<LegalHold & { rows: number }>): string {
  if (holds.length === 0) return "No legal holds. Retention deletes by policy alone.\n";
  const lines = holds.map(
    (h) =>
      `#${h.holdId}  ${h.active ? "active  " : "released"}  ${h.projectId ?? "all projects"}  ${h.since} .. ${h.until}  ${h.rows} rows  ` +
      `placed ${h.createdAt} by ${h.createdBy}: ${h.reason}` +
      (h.releasedAt ? `; released ${h.releasedAt} by ${h.releasedBy}: ${h.releaseReason}` : ""),
  );
  return lines.join("\n") + "\n";
}
