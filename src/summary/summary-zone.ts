import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { ConfigError } from "../errors.js";

/** The zone recorded in summary_settings: the one whose days the rollups and dirty marks use. */
export interface SummaryZone {
  timezone: string;
  /** null: every day must be rebuilt before the rollups can be trusted (first use, or an unfinished zone change). */
  rebuiltAt: Date | null;
}

export async function readSummaryZone(db: Kysely<Database>): Promise<SummaryZone | null> {
  const r = await sql<{ timezone: string; rebuilt_at: Date | null }>`
    select timezone, rebuilt_at from deepgram_archive.summary_settings where id`.execute(db);
  const row = r.rows[0];
  return row ? { timezone: row.timezone, rebuiltAt: row.rebuilt_at } : null;
}

export function zoneMismatchError(configured: string, recorded: string): ConfigError {
  return new ConfigError([
    `ARCHIVER_TIMEZONE is ${configured} but the daily rollups were built with ${recorded} days. ` +
      `Run \`deepgram-archiver summarize --rebuild\` with ARCHIVER_TIMEZONE=${configured} to rebuild every day in the new zone, ` +
      `or set ARCHIVER_TIMEZONE=${recorded} again.`,
  ]);
}

/**
 * Records `timezone` as the rollups' zone when none is recorded yet (marking a full rebuild as
 * due), and refuses (ConfigError, exit 2) when another zone is recorded: rows marked dirty or
 * summarized in two zones would mix days. A pass calls this before it writes any request row.
 */
export async function claimSummaryZone(db: Kysely<Database>, timezone: string, now: Date): Promise<SummaryZone> {
  await sql`
    insert into deepgram_archive.summary_settings (id, timezone, recorded_at, rebuilt_at)
    values (true, ${timezone}, ${now}, null)
    on conflict (id) do nothing`.execute(db);
  const zone = (await readSummaryZone(db))!;
  if (zone.timezone !== timezone) throw zoneMismatchError(timezone, zone.timezone);
  return zone;
}

/**
 * Switches the recorded zone (a `summarize --rebuild` of everything). Committed before the
 * rebuild starts, so an interrupted rebuild is finished by the next summarize.
 */
export async function resetSummaryZone(db: Kysely<Database>, timezone: string, now: Date): Promise<void> {
  await sql`
    insert into deepgram_archive.summary_settings as s (id, timezone, recorded_at, rebuilt_at)
    values (true, ${timezone}, ${now}, null)
    on conflict (id) do update set
      timezone = excluded.timezone,
      recorded_at = case when s.timezone = excluded.timezone then s.recorded_at else excluded.recorded_at end,
      rebuilt_at = null`.execute(db);
}

export async function markRebuilt(db: Kysely<Database>, timezone: string, now: Date): Promise<void> {
  await sql`update deepgram_archive.summary_settings set rebuilt_at = ${now} where id and timezone = ${timezone}`.execute(db);
}
