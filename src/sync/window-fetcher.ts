import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { DeepgramClient, RequestItem, RequestsPage, RequestsQuery } from "../deepgram/index.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { toRequestRow, type RequestRow } from "../archive/request-row.js";
import type { UpsertResult } from "../archive/request-store.js";
import { commitPage, type PageCommit, type RejectedInput } from "./ledger.js";
import { mayBeArchived, type PlannedWindow } from "./planner.js";
import { CommitLane } from "./commit-lane.js";

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
  /** Settles when the worker's previous batch has ended: the first commit waits for it (pool.ts, Handoff). */
  previous?: Promise<void>;
  /** Called when the last page's commit starts (nothing left to ask the API): the worker may start its next batch. */
  release?: () => void;
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
  const lane = new CommitLane(deps.previous);
  for (;;) {
    const attempt = await lane.finish(readOnce(deps, projectId, window, total, lane));
    if (attempt.kind === "done") return total;
    if (attempt.kind === "split") {
      // Parts are whole seconds (readOnce): splitting stops at one part per MIN_PART_MS.
      total.parts = Math.min(total.parts * 2, Math.floor((window.end - window.start) / MIN_PART_MS));
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

/**
 * One read of the window, part by part and page by page. Each page's commit goes into `lane` and
 * overlaps the next page's request (commit-lane.ts); the caller waits for them (`lane.finish`).
 */
async function readOnce(deps: WindowFetchDeps, projectId: string, window: PlannedWindow, total: WindowResult, lane: CommitLane): Promise<Attempt> {
  const { start, end } = window;
  const parts = total.parts;
  // The API takes whole seconds only (client.ts): a part's bounds are whole seconds into the window.
  const seconds = (end - start) / 1_000;
  const seen = new Set<string>();
  let firstPage = true;
  for (let i = 0; i < parts; i++) {
    const ps = start + Math.floor((i * seconds) / parts) * 1_000;
    const pe = i === parts - 1 ? end : start + Math.floor(((i + 1) * seconds) / parts) * 1_000;
    for (let page = 0; ; page++) {
      if (page >= MAX_PAGES_PER_RANGE && pe - ps > MIN_PART_MS) return { kind: "split" };
      const { read, more } = await listPage(deps, projectId, { start: new Date(ps), end: new Date(pe), page, limit: PAGE_LIMIT }, { from: ps, to: pe, end }, seen);
      if (read.kind !== "rows") return { kind: "moved", why: read.why };
      const { rows, rejected } = read;
      const lastPage = !more && i === parts - 1;
      const commit: Omit<PageCommit, "now"> = {
        projectId,
        windowStart: new Date(start),
        windowEnd: new Date(end),
        parts,
        rows,
        rejected,
        firstPage,
        lastPage,
        timezone: deps.timezone,
        expectArchived: mayBeArchived(window),
      };
      await startPageCommit(deps, lane, total, read, commit, lastPage);
      firstPage = false;
      if (!more) break;
    }
  }
  return { kind: "done" };
}

/**
 * Asks for one page of a listing and reads it (readPage): what to store, and whether the listing
 * goes on (a page as long as the echoed limit). The response itself, with its parsed items, is not
 * kept: a page waiting for the commit before it holds only its rows.
 */
export async function listPage(
  deps: WindowFetchDeps,
  projectId: string,
  query: RequestsQuery,
  range: { from: number; to: number; end: number },
  seen: Set<string>,
  placeEvery = false,
): Promise<{ read: PageRead; more: boolean }> {
  const res = await deps.client.listRequests(projectId, query, deps.signal);
  return { read: readPage(res, range, seen, placeEvery), more: res.rawCount >= res.limit };
}

/** A listed page as rows to store and items to reject, or why it cannot be used. */
type PageRead =
  | { kind: "rows"; rows: RequestRow[]; rejected: RejectedInput[]; times: number[] }
  | { kind: "moved"; why: string }
  | { kind: "unplaced"; why: string };

/**
 * One page of a listing of [from, to] read for a window or span ending at `end`: a record in the
 * second from `to` belongs to the next part (unless `to` is `end`) and one at or after `end` to the
 * next window, so both are skipped. A record seen twice (`seen` spans the listing's pages) or
 * outside the range means the listing moved. With `placeEvery`, a record whose time this process
 * cannot read stops the page (`unplaced`); `times` holds each row's instant.
 */
function readPage(res: RequestsPage, range: { from: number; to: number; end: number }, seen: Set<string>, placeEvery = false): PageRead {
  const { from, to, end } = range;
  const rows: RequestRow[] = [];
  const times: number[] = [];
  const rejected: RejectedInput[] = [...res.rejected];
  const itemBytes = res.itemBytes ?? null;
  for (let k = 0; k < res.items.length; k++) {
    const item = res.items[k]!;
    const t = Date.parse(item.created);
    if (placeEvery && Number.isNaN(t)) return { kind: "unplaced", why: `record ${item.request_id} has a time this process cannot place (${item.created})` };
    // The API's end is inclusive: of that instant, or (unknown: deepgram-api.md, open question 5)
    // of its whole second. Either way a record from a part's end to the end of that second
    // belongs to the next part, which starts there; and one from the window's end, to the next window.
    if (to !== end && t >= to && t < to + 1_000) continue;
    if (t >= end) continue;
    if (t < from || t > to) return { kind: "moved", why: `record ${item.request_id} at ${item.created} is outside the requested range` };
    if (seen.has(item.request_id)) return { kind: "moved", why: `record ${item.request_id} was listed twice` };
    seen.add(item.request_id);
    // An item Postgres reads as is holds no NUL escape, so it needs no check.
    const bytes = itemBytes?.[k] ?? null;
    const problem = bytes === null ? storable(item) : null;
    if (problem) rejected.push({ raw: item, reason: problem });
    else {
      const row = toRequestRow(item);
      if (bytes !== null) {
        // The bytes are what is stored: the parsed item is not needed after this.
        row.raw_source = bytes;
        row.raw = null;
      }
      rows.push(row);
      times.push(t);
    }
  }
  return { kind: "rows", rows, rejected, times };
}

/**
 * Starts a page's commit in `lane` (commit-lane.ts), with the time it starts at; once committed, its
 * counts go into `total`, then `committed` runs. The last page's commit releases the worker
 * (`deps.release`, pool.ts Handoff): nothing is left to ask the API.
 */
export function startPageCommit(
  deps: WindowFetchDeps,
  lane: CommitLane,
  total: WindowResult,
  page: { rows: RequestRow[]; rejected: RejectedInput[] },
  commit: Omit<PageCommit, "now">,
  lastPage: boolean,
  committed?: () => void,
): Promise<void> {
  return lane.start(async () => {
    const result = await commitPage(deps.db, { ...commit, now: deps.clock.now() });
    countPage(deps, commit.projectId, total, page, result);
    committed?.();
  }, lastPage ? deps.release : undefined);
}

/** Adds a committed page to a read's totals and reports it. */
function countPage(deps: WindowFetchDeps, projectId: string, total: WindowResult, page: { rows: RequestRow[]; rejected: RejectedInput[] }, result: UpsertResult): void {
  total.pages++;
  total.records += page.rows.length;
  total.inserted += result.inserted;
  total.updated += result.updated;
  total.unchanged += result.unchanged;
  total.rejected += page.rejected.length;
  deps.onPage?.({ projectId, rows: page.rows.length, inserted: result.inserted, updated: result.updated });
}

/** Postgres cannot store a NUL character in text or jsonb; such an item is kept as rejected instead of failing the page. */
export function storable(item: RequestItem): string | null {
  return JSON.stringify(item).includes("\\u0000") ? "contains a NUL character, which Postgres cannot store" : null;
}
