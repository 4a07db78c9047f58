import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { DeepgramHttpError, type DeepgramClient } from "../deepgram/index.js";
import type { Logger } from "../logger.js";
import { HORIZON_MS } from "../config.js";
import { storeVendorUsage } from "./vendor-usage-store.js";
import { storeApiKeys } from "./api-key-store.js";

const DAY_MS = 86_400_000;

export interface VendorFetchDeps {
  db: Kysely<Database>;
  client: DeepgramClient;
  logger: Logger;
  signal?: AbortSignal;
}

export interface VendorFetchSettings {
  now: Date;
  rescanMs: number;
  /** ARCHIVER_USAGE_SINCE: how far back a project's first fetch of /usage goes. */
  usageSinceDays: number;
}

/** What one pass learned from /usage and /keys for one project. */
export interface VendorFetchResult {
  /** The UTC days asked for. */
  usageFrom: string | null;
  usageTo: string | null;
  usageDays: number;
  usageDaysChanged: number;
  /** Keys listed; null when they could not be read. */
  keys: number | null;
  keysDeleted: number;
  /** Why /usage could not be archived this pass (the pass is then partial for this project). */
  usageError: string | null;
}

/** State shared by the projects of one pass: a key without keys:read is reported once, not per project. */
export interface VendorPassState {
  keysForbiddenWarned: boolean;
}

export const utcDay = (ms: number): string => new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString().slice(0, 10);

/**
 * The UTC days of /usage a pass asks for: the rescan horizon plus a day, up to today (recent days
 * still change); on a project's first fetch, back to ARCHIVER_USAGE_SINCE days (the summary is
 * not limited to 90 days, unlike the logs). The caller widens it to mismatched days.
 */
export function usageRange(now: Date, rescanMs: number, usageSinceDays: number, firstFetch: boolean): { start: string; end: string } {
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  const back = firstFetch ? usageSinceDays : Math.ceil(rescanMs / DAY_MS) + 1;
  return { start: utcDay(today - back * DAY_MS), end: utcDay(today) };
}

/**
 * Archives a project's /usage days and key labels. Neither is allowed to stop the pass: a /usage
 * failure is returned (the project ends partial), a 403 on keys is a warning, once per pass (a
 * member-role key may read usage but not keys), and any other keys failure a warning too.
 */
export async function fetchVendorData(deps: VendorFetchDeps, projectId: string, s: VendorFetchSettings, pass: VendorPassState): Promise<VendorFetchResult> {
  const log = deps.logger.child({ projectId });
  const result: VendorFetchResult = { usageFrom: null, usageTo: null, usageDays: 0, usageDaysChanged: 0, keys: null, keysDeleted: 0, usageError: null };

  // Days reconciliation found wrong are asked for again while their logs are still listed: the
  // window refetch repairs the archive's side, this the (rarer) case of a transient vendor figure.
  const known = await sql<{ n: number; mismatch: string | null }>`
    select (select count(*) from (select 1 from deepgram_archive.vendor_daily_usage where project_id = ${projectId} limit 1) x)::int as n,
      (select min(day)::text from deepgram_archive.reconciliation
        where project_id = ${projectId} and status = 'mismatch'
          and ((day + 1)::timestamp at time zone 'UTC') > ${new Date(s.now.getTime() - HORIZON_MS)}::timestamptz) as mismatch`.execute(deps.db);
  const range = usageRange(s.now, s.rescanMs, s.usageSinceDays, known.rows[0]!.n === 0);
  const oldestMismatch = known.rows[0]!.mismatch;
  if (oldestMismatch !== null && oldestMismatch < range.start) range.start = oldestMismatch;
  result.usageFrom = range.start;
  result.usageTo = range.end;
  try {
    const usage = await deps.client.getUsage(projectId, range, deps.signal);
    const w = await storeVendorUsage(deps.db, projectId, usage.results, s.now);
    result.usageDays = w.days;
    result.usageDaysChanged = w.changed;
    if (w.skipped.length > 0) log.warn({ starts: w.skipped.slice(0, 5), count: w.skipped.length }, "Deepgram /usage results without a usable day were not archived");
  } catch (err) {
    if (deps.signal?.aborted) throw err;
    result.usageError = `Deepgram's daily usage could not be archived: ${(err as Error).message}`;
    log.error({ err: (err as Error).message, range }, "daily usage not archived this pass; reconciliation will use what is stored");
  }

  try {
    const keys = await deps.client.listKeys(projectId, deps.signal);
    const w = await storeApiKeys(deps.db, projectId, keys, s.now);
    result.keys = w.listed;
    result.keysDeleted = w.deleted;
  } catch (err) {
    if (deps.signal?.aborted) throw err;
    if (err instanceof DeepgramHttpError && err.status === 403) {
      if (!pass.keysForbiddenWarned) {
        pass.keysForbiddenWarned = true;
        log.warn(
          { err: err.message },
          "the API key may not list keys (403), so key comments and tags are not archived; give it a role with keys:read (admin or owner) to name keys in SQL",
        );
      }
    } else {
      log.warn({ err: (err as Error).message }, "key labels not archived this pass");
    }
  }
  return result;
}
