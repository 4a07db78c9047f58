import { sql, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";

/**
 * Who is writing, as the guard triggers of migrations/0003 see it: a transaction-local setting
 * that only the archiver's own write paths set. `archiver`: page commits, sealing, holds;
 * `retention`: the purge. Anything else (an analyst's session) is refused.
 */
export type ArchiveWriter = "archiver" | "retention";

/** Declares the transaction one of the archiver's own writes; it ends with the transaction. */
export async function declareWriter(trx: Transaction<Database>, writer: ArchiveWriter): Promise<void> {
  await sql`select set_config('deepgram_archive.writer', ${writer}, true)`.execute(trx);
}

/** Advisory-lock key that serializes sealing, retention and hold changes across processes. */
const COMPLIANCE_LOCK = 0x0d9a_0003;

export async function lockCompliance(trx: Transaction<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(${COMPLIANCE_LOCK})`.execute(trx);
  await withoutJit(trx);
}

/**
 * Turns JIT off for the transaction. The seal and verify queries are estimated far larger than
 * they are (set-returning functions over days), which makes the server compile them with LLVM:
 * seconds of compiling for milliseconds of work.
 */
export async function withoutJit(trx: Transaction<Database>): Promise<void> {
  await sql`select set_config('jit', 'off', true)`.execute(trx);
}
