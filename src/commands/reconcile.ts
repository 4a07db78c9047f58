import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import { checkDayRange } from "../summary/summarizer.js";
import { reconcile, RECONCILE_STATUSES, type ReconcileResult, type ReconcileRow } from "../usage/reconcile.js";
import { openMigratedDatabase } from "./context.js";

/** `reconcile`: every UTC day of the range (default: all) against Deepgram's own daily usage. */
export async function reconcileCommand(config: Config, deps: { logger: Logger; clock: Clock }, opts: { since?: string; until?: string }): Promise<ReconcileResult> {
  const range = checkDayRange(opts);
  const database = await openMigratedDatabase(config, deps.logger);
  try {
    return await reconcile(database.db, { now: deps.clock.now(), ...range });
  } finally {
    await database.close();
  }
}

const hours = (h: number | null) => (h === null ? "-" : h.toFixed(3));
const count = (n: number | null) => (n === null ? "-" : String(n));

/** A table, mismatches first (then days without vendor data, partial days, ok days), and the totals. */
export function formatReconcileTable(result: ReconcileResult): string {
  if (result.rows.length === 0) return "Nothing to reconcile yet: no archived requests and no Deepgram usage. Run `deepgram-archiver sync`.\n";
  const rank = new Map(RECONCILE_STATUSES.map((s, i) => [s, i]));
  const rows = [...result.rows].sort(
    (a, b) => rank.get(a.status)! - rank.get(b.status)! || a.project_id.localeCompare(b.project_id) || a.day.localeCompare(b.day),
  );
  const header = ["project", "day (UTC)", "status", "archived req", "deepgram req", "archived h", "deepgram h"];
  const cells = rows.map((r: ReconcileRow) => [r.project_id, r.day, r.status, count(r.archived_requests), count(r.vendor_requests), hours(r.archived_hours), hours(r.vendor_hours)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i >= 3 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join("  ").trimEnd();
  const c = result.counts;
  return (
    [line(header), ...cells.map(line)].join("\n") +
    `\n\n${rows.length} days: ${c.mismatch} mismatch, ${c.no_vendor_data} without Deepgram usage, ${c.partial} partial, ${c.ok} ok\n`
  );
}
