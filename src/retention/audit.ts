import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";

/** One entry of deepgram_archive.audit_log: what happened, to which range, how many rows, by which command. */
export interface AuditEntry {
  at: Date;
  action: AuditAction;
  command: string | null;
  projectId?: string | null;
  rangeStart?: Date | null;
  rangeEnd?: Date | null;
  rows?: number | null;
  detail?: Record<string, unknown>;
}

/**
 * retention.*: purges; hold.*: legal holds; seal.*: re-seals by the archiver or accepted changes;
 * override: written by the guard trigger when an administrator overrides it.
 */
export type AuditAction =
  | "retention.purge"
  | "retention.rollups"
  | "retention.run"
  | "hold.add"
  | "hold.release"
  | "seal.reseal"
  | "seal.accept";

export async function writeAudit(db: Kysely<Database> | Transaction<Database>, entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map((e) => ({
    at: e.at.toISOString(),
    action: e.action,
    command: e.command,
    project_id: e.projectId ?? null,
    range_start: e.rangeStart?.toISOString() ?? null,
    range_end: e.rangeEnd?.toISOString() ?? null,
    rows: e.rows ?? null,
    detail: e.detail ?? {},
  }));
  await sql`
    insert into deepgram_archive.audit_log (at, action, command, project_id, range_start, range_end, rows, detail)
    select x.at, x.action, x.command, x.project_id, x.range_start, x.range_end, x.rows, x.detail
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(
      at timestamptz, action text, command text, project_id text, range_start timestamptz, range_end timestamptz,
      rows bigint, detail jsonb)`.execute(db);
}

/** The newest audit entry's id ("0" when the log is empty): seals remember it. */
export async function latestAuditId(db: Kysely<Database> | Transaction<Database>): Promise<string> {
  const r = await sql<{ id: string }>`select coalesce(max(audit_id), 0)::text as id from deepgram_archive.audit_log`.execute(db);
  return r.rows[0]!.id;
}
