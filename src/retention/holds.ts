import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import { writeAudit } from "./audit.js";
import { declareWriter, lockCompliance } from "./writer.js";

export interface LegalHold {
  holdId: string;
  /** null: every project. */
  projectId: string | null;
  /** [since, until) of the requests' created. */
  since: string;
  until: string;
  reason: string;
  createdAt: string;
  createdBy: string;
  releasedAt: string | null;
  releaseReason: string | null;
  releasedBy: string | null;
  active: boolean;
}

/** Raised for a hold that does not exist or was already released: exit 1 with this message. */
export class HoldError extends Error {
  override readonly name = "HoldError";
}

interface HoldRow {
  hold_id: string;
  project_id: string | null;
  since: Date;
  until: Date;
  reason: string;
  created_at: Date;
  created_by: string;
  released_at: Date | null;
  release_reason: string | null;
  released_by: string | null;
}

const toHold = (r: HoldRow): LegalHold => ({
  holdId: r.hold_id,
  projectId: r.project_id,
  since: r.since.toISOString(),
  until: r.until.toISOString(),
  reason: r.reason,
  createdAt: r.created_at.toISOString(),
  createdBy: r.created_by,
  releasedAt: r.released_at?.toISOString() ?? null,
  releaseReason: r.release_reason,
  releasedBy: r.released_by,
  active: r.released_at === null,
});

const COLUMNS = sql`hold_id::text, project_id, since, until, reason, created_at, created_by, released_at, release_reason, released_by`;

/**
 * Places a legal hold: retention keeps every request (and version) created in [since, until) of
 * the project (or of every project) until the hold is released. Audited. Holds and retention take
 * the same lock, so a hold added while retention runs applies before or after it, never halfway.
 */
export async function addHold(
  db: Kysely<Database>,
  h: { projectId: string | null; since: Date; until: Date; reason: string; now: Date; command: string },
): Promise<LegalHold> {
  return db.transaction().execute(async (trx) => {
    await lockCompliance(trx);
    const r = await sql<HoldRow>`
      insert into deepgram_archive.legal_holds (project_id, since, until, reason, created_at)
      values (${h.projectId}, ${h.since}, ${h.until}, ${h.reason}, ${h.now})
      returning ${COLUMNS}`.execute(trx);
    const hold = toHold(r.rows[0]!);
    const rows = await heldRowCount(trx, hold);
    await writeAudit(trx, [
      { at: h.now, action: "hold.add", command: h.command, projectId: h.projectId, rangeStart: h.since, rangeEnd: h.until, rows, detail: { holdId: hold.holdId, reason: h.reason } },
    ]);
    return hold;
  });
}

export async function listHolds(db: Kysely<Database>, opts: { includeReleased: boolean }): Promise<Array<LegalHold & { rows: number }>> {
  const r = await sql<HoldRow & { rows: number }>`
    select ${COLUMNS},
      (select count(*) from deepgram_archive.requests q
       where q.created >= h.since and q.created < h.until and (h.project_id is null or q.project_id = h.project_id))::int as rows
    from deepgram_archive.legal_holds h
    where ${opts.includeReleased}::boolean or h.released_at is null
    order by h.hold_id`.execute(db);
  return r.rows.map((x) => ({ ...toHold(x), rows: x.rows }));
}

/** Releases an active hold; the hold stays in legal_holds as history. Audited. */
export async function releaseHold(db: Kysely<Database>, r: { holdId: string; reason: string; now: Date; command: string }): Promise<LegalHold> {
  return db.transaction().execute(async (trx) => {
    await lockCompliance(trx);
    await declareWriter(trx, "archiver");
    const res = await sql<HoldRow>`
      update deepgram_archive.legal_holds set released_at = ${r.now}, release_reason = ${r.reason}, released_by = session_user
      where hold_id = ${r.holdId}::bigint and released_at is null
      returning ${COLUMNS}`.execute(trx);
    if (res.rows.length === 0) {
      const exists = await sql<{ released_at: Date | null }>`select released_at from deepgram_archive.legal_holds where hold_id = ${r.holdId}::bigint`.execute(trx);
      const found = exists.rows[0];
      throw new HoldError(found ? `hold ${r.holdId} was already released at ${found.released_at!.toISOString()}` : `there is no hold ${r.holdId}; \`deepgram-archiver hold list --all\` shows every hold`);
    }
    const hold = toHold(res.rows[0]!);
    await writeAudit(trx, [
      {
        at: r.now,
        action: "hold.release",
        command: r.command,
        projectId: hold.projectId,
        rangeStart: new Date(hold.since),
        rangeEnd: new Date(hold.until),
        rows: await heldRowCount(trx, hold),
        detail: { holdId: hold.holdId, reason: r.reason, holdReason: hold.reason },
      },
    ]);
    return hold;
  });
}

async function heldRowCount(db: Kysely<Database> | Transaction<Database>, h: LegalHold): Promise<number> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from deepgram_archive.requests
    where created >= ${new Date(h.since)} and created < ${new Date(h.until)} and (${h.projectId}::text is null or project_id = ${h.projectId})`.execute(db);
  return r.rows[0]!.n;
}
