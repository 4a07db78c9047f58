import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import { checkDayRange, summarize, type SummaryReport } from "../summary/summarizer.js";
import { openMigratedDatabase } from "./context.js";

export interface SummarizeCommandOptions {
  since?: string;
  until?: string;
  rebuild?: boolean;
  signal?: AbortSignal;
}

/** `summarize`: drain the dirty days, or rebuild a range or everything, in ARCHIVER_TIMEZONE. */
export async function summarizeCommand(config: Config, deps: { logger: Logger; clock: Clock }, opts: SummarizeCommandOptions): Promise<SummaryReport> {
  const range = checkDayRange(opts);
  const database = await openMigratedDatabase(config, deps.logger);
  try {
    return await summarize(database.db, {
      timezone: config.timezone,
      now: deps.clock.now(),
      rebuild: opts.rebuild ?? false,
      concurrency: config.concurrency,
      ...range,
      logger: deps.logger,
      signal: opts.signal,
    });
  } finally {
    await database.close();
  }
}

export function formatSummaryReport(r: SummaryReport): string {
  const what = r.full ? "rebuilt every day" : r.mode === "rebuild" ? "rebuilt the range" : "drained the dirty days";
  const lines = [
    `${what} in ${r.timezone}${r.previousTimezone ? ` (the rollups were in ${r.previousTimezone})` : ""}: ${r.days} days, ${r.daysChanged} changed`,
    `  rollup rows: ${r.rowsInserted} new, ${r.rowsUpdated} updated, ${r.rowsDeleted} removed`,
  ];
  if (r.keptDays > 0) lines.push(`  ${r.keptDays} days kept as built: their request logs are no longer archived`);
  if (r.dirtyRemaining > 0) lines.push(`  ${r.dirtyRemaining} days still marked dirty (outside the range, or marked again while this ran)`);
  return lines.join("\n") + "\n";
}
