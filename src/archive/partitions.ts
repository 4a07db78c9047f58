import { sql, type Kysely } from "kysely";
import { DateTime } from "luxon";
import type { Database } from "../db/schema.js";
import type { Logger } from "../logger.js";

/** Name of the monthly partition holding `month` (UTC), e.g. requests_2026_08. */
export function partitionName(month: DateTime): string {
  return `requests_${month.toFormat("yyyy_MM")}`;
}

/**
 * Creates the monthly partitions of deepgram_archive.requests that [from, to] needs, before any
 * row arrives: once the default partition holds rows of a month, that month's partition can no
 * longer be created without moving them. Serialized with an advisory lock so concurrent passes
 * do not race on the DDL.
 */
export async function ensureMonthlyPartitions(db: Kysely<Database>, from: Date, to: Date, logger: Logger): Promise<string[]> {
  const existing = new Set(
    (
      await sql<{ name: string }>`
        select c.relname as name from pg_inherits i
        join pg_class c on c.oid = i.inhrelid
        join pg_class p on p.oid = i.inhparent
        join pg_namespace n on n.oid = p.relnamespace
        where n.nspname = 'deepgram_archive' and p.relname = 'requests'`.execute(db)
    ).rows.map((r) => r.name),
  );
  const created: string[] = [];
  let month = DateTime.fromJSDate(from, { zone: "utc" }).startOf("month");
  const last = DateTime.fromJSDate(to, { zone: "utc" }).startOf("month");
  while (month <= last) {
    const name = partitionName(month);
    if (!existing.has(name)) {
      const lower = month.toISO()!;
      const upper = month.plus({ months: 1 }).toISO()!;
      try {
        await db.transaction().execute(async (trx) => {
          await sql`select pg_advisory_xact_lock(${0x0d9a_0002})`.execute(trx);
          await sql`
            create table if not exists ${sql.table(`deepgram_archive.${name}`)}
            partition of deepgram_archive.requests
            for values from (${sql.lit(lower)}) to (${sql.lit(upper)})`.execute(trx);
          // Statement triggers are not inherited: the new partition gets its TRUNCATE guard here (migrations/0003).
          await sql`select deepgram_archive.protect_partitions()`.execute(trx);
        });
        created.push(name);
      } catch (err) {
        // Rows of this month already sit in the default partition; they stay queryable there.
        logger.warn({ partition: name, err: (err as Error).message }, "could not create a monthly partition; rows stay in requests_default");
      }
    }
    month = month.plus({ months: 1 });
  }
  if (created.length > 0) logger.debug({ created }, "created monthly partitions");
  return created;
}
