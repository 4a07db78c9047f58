import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { DeepgramClient, RequestItem } from "../deepgram/index.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { toRequestRow, type RequestRow } from "../archive/request-row.js";
import { commitPage, type RejectedInput } from "./ledger.js";
import type { PlannedWindow } from "./planner.js";

/** Deepgram's documented maximum page size; the echoed limit is what counts. */
export const PAGE_LIMIT = 1000;
/** Deeper offset paging over a list that can move is not trusted: the range is split instead. */
export const MAX_PAGES_PER_RANGE = 10;
/** How many times a window whose listing moved is read again before the window fails. */
export const MAX_REREADS = 5;
/** A range this narrow is paged to its end whatever its depth. */
const MIN_PART_MS = 1_000;

export interface WindowFetchDeps {
  db: Kysely<Database>;
  client: DeepgramClient;
  clock: Clock;
  logger: Logger;
  timezone: string;
  signal?: AbortSignal;
  onPage?: (p: { projectId: string; rows: number; inserted: number; updated: number }) => void;
}

export interface WindowResult {
  pages: number;
  records: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  rereads: number;
  parts: number;
}

export class ListingMovedError extends Error {
  override readonly name = "ListingMovedError";
}

type Attempt = { kind: "done" } | { kind: "moved"; why: string } | { kind: "split" };

/**
 * Reads one closed window to its end, committing each page with the ledger's progress.
 * Offset paging over a newest-first list that can change: a record seen twice or a record
 * outside the window means the list moved under us, so the whole window is read again. A
 * range deeper than MAX_PAGES_PER_RANGE is split into more parts (remembered in the ledger).
 */
export async function fetchWindow(deps: WindowFetchDeps, projectId: string, window: PlannedWindow): Promise<WindowResult> {
  const log = deps.logger.child({ projectId, window: new Date(window.start).toISOString() });
  const total: WindowResult = { pages: 0, records: 0, inserted: 0, updated: 0, unchanged: 0, rejected: 0, rereads: 0, parts: window.parts };
  for (;;) {
    const attempt = await readOnce(deps, projectId, window.start, window.end, total);
    if (attempt.kind === "done") return total;
    if (attempt.kind === "split") {
      total.parts *= 2;
      log.info({ parts: total.parts }, "window too deep for safe offset paging; splitting it");
      continue;
    }
    total.rereads++;
    if (total.rereads > MAX_REREADS) {
      throw new ListingMovedError(`the listing kept moving while paging (${attempt.why}); read ${total.rereads} times without a stable result`);
    }
    log.info({ why: attempt.why, reread: total.rereads }, "listing moved while paging; reading the window again");
  }
}

async function readOnce(deps: WindowFetchDeps, projectId: string, start: number, end: number, total: WindowResult): Promise<Attempt> {
  const parts = total.parts;
  const partMs = (end - start) / parts;
  const seen = new Set<string>();
  let firstPage = true;
  for (let i = 0; i < parts; i++) {
    const ps = Math.round(start + i * partMs);
    const pe = i === parts - 1 ? end : Math.round(start + (i + 1) * partMs);
    for (let page = 0; ; page++) {
      if (page >= MAX_PAGES_PER_RANGE && pe - ps > MIN_PART_MS) return { kind: "split" };
      const res = await deps.client.listRequests(projectId, { start: new Date(ps), end: new Date(pe), page, limit: PAGE_LIMIT }, deps.signal);
      const rows: RequestRow[] = [];
      const rejected: RejectedInput[] = [...res.rejected];
      const pageText = res.pageText ?? null;
      for (let k = 0; k < res.items.length; k++) {
        const item = res.items[k]!;
        const t = Date.parse(item.created);
        if (t === pe && pe !== end) continue; // inclusive end: it belongs to the next part
        if (t >= end) continue; // inclusive end: it belongs to the next window
        if (t < ps || t > pe) return { kind: "moved", why: `record ${item.request_id} at ${item.created} is outside the requested range` };
        if (seen.has(item.request_id)) return { kind: "moved", why: `record ${item.request_id} was listed twice` };
        seen.add(item.request_id);
        // A page Postgres reads as is holds no NUL escape, so none of its items needs the check.
        const problem = pageText === null ? storable(item) : null;
        if (problem) rejected.push({ raw: item, reason: problem });
        else {
          const row = toRequestRow(item);
          if (pageText !== null) row.raw_source = { page: pageText, index: res.itemIndexes![k]! };
          rows.push(row);
        }
      }
      const lastPage = res.rawCount < res.limit && i === parts - 1;
      const now = deps.clock.now();
      const result = await commitPage(deps.db, {
        projectId,
        windowStart: new Date(start),
        windowEnd: new Date(end),
        parts,
        rows,
        rejected,
        firstPage,
        lastPage,
        timezone: deps.timezone,
        now,
      });
      firstPage = false;
      total.pages++;
      total.records += rows.length;
      total.inserted += result.inserted;
      total.updated += result.updated;
      total.unchanged += result.unchanged;
      total.rejected += rejected.length;
      deps.onPage?.({ projectId, rows: rows.length, inserted: result.inserted, updated: result.updated });
      if (res.rawCount < res.limit) break;
    }
  }
  return { kind: "done" };
}

/** Postgres cannot store a NUL character in text or jsonb; such an item is kept as rejected instead of failing the page. */
export function storable(item: RequestItem): string | null {
  return JSON.stringify(item).includes("\\u0000") ? "contains a NUL character, which Postgres cannot store" : null;
}
