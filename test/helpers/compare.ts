import { sql, type Kysely } from "kysely";

export interface ArchiveDiff {
  /** Expected records the archive lacks. */
  missing: string[];
  /** Request ids stored more than once. */
  duplicated: string[];
  /** Archived rows whose raw differs from the truth's current version. */
  stale: string[];
  /** Archived rows the truth does not have at all. */
  unexpected: string[];
  compared: number;
}

export interface ProblemCounts {
  missing: number;
  duplicated: number;
  stale: number;
  unexpected: number;
}

/** What `problemCounts` gives for an exact archive. */
export const NO_PROBLEMS: Readonly<ProblemCounts> = { missing: 0, duplicated: 0, stale: 0, unexpected: 0 };

/** How many records of each kind of problem a diff found: all zero when the archive is exact. */
export function problemCounts(d: ArchiveDiff): ProblemCounts {
  return { missing: d.missing.length, duplicated: d.duplicated.length, stale: d.stale.length, unexpected: d.unexpected.length };
}

/** Sorted-key JSON, so two items compare equal whatever order their keys arrived in. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Compares the archive of one project with the simulator's truth, record for record.
 * `expected` are the records that must be archived (visible and settled); `allTruth` every record
 * the simulator ever had (archived rows may be older than what Deepgram still lists).
 */
export async function diffArchive(
  db: Kysely<any>,
  projectId: string,
  expected: Array<Record<string, unknown> & { request_id: string }>,
  allTruth: Array<Record<string, unknown> & { request_id: string }>,
): Promise<ArchiveDiff> {
  const rows = await sql<{ request_id: string; raw: unknown }>`
    select request_id, raw from deepgram_archive.requests where project_id = ${projectId}`.execute(db);
  const truth = new Map(allTruth.map((t) => [t.request_id, canonical(t)]));
  const archived = new Map<string, string>();
  const duplicated: string[] = [];
  const stale: string[] = [];
  const unexpected: string[] = [];
  for (const r of rows.rows) {
    if (archived.has(r.request_id)) duplicated.push(r.request_id);
    const c = canonical(r.raw);
    archived.set(r.request_id, c);
    const t = truth.get(r.request_id);
    if (t === undefined) unexpected.push(r.request_id);
    else if (t !== c) stale.push(r.request_id);
  }
  const missing = expected.filter((e) => !archived.has(e.request_id)).map((e) => e.request_id);
  return { missing, duplicated, stale, unexpected, compared: rows.rows.length };
}

/**
 * The records a pass at `now` must have archived: visible to the API and in a settled window. On
 * the system's clock, give a time taken before the pass started: a window that closes between the
 * pass's start and the check is not one the pass had to archive.
 */
export function settledVisible<T extends { created: string }>(visible: T[], now: Date, windowMs: number, settleMs: number): T[] {
  const lastEnd = Math.floor((now.getTime() - settleMs) / windowMs) * windowMs;
  return visible.filter((r) => Date.parse(r.created) < lastEnd);
}
