import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { UsageDayResult } from "../deepgram/index.js";

export interface VendorUsageWrite {
  /** Days received with a usable date. */
  days: number;
  /** Days new to the archive or whose figures changed. */
  changed: number;
  /** Results whose `start` is not a day, left out (and reported by the caller). */
  skipped: string[];
}

/** `YYYY-MM-DD` from a /usage result's `start` (a date, or a datetime whose date part is taken). */
function dayOf(start: string): string | null {
  const m = /^(\d{4}-\d{2}-\d{2})(?:$|T)/.exec(start);
  if (!m) return null;
  const d = new Date(`${m[1]}T00:00:00Z`);
  return Number.isNaN(d.getTime()) || !d.toISOString().startsWith(m[1]!) ? null : m[1]!;
}

/**
 * Upserts Deepgram's /usage day results into vendor_daily_usage in one statement. A day already
 * stored with the same raw result is not written; a changed day gets its new figures and changed_at.
 */
export async function storeVendorUsage(db: Kysely<Database>, projectId: string, results: UsageDayResult[], now: Date): Promise<VendorUsageWrite> {
  const skipped: string[] = [];
  const byDay = new Map<string, UsageDayResult>();
  for (const r of results) {
    const day = dayOf(r.start);
    if (day === null) skipped.push(r.start);
    // Deepgram answers one result per day; should a day come twice, the last one wins.
    else byDay.set(day, r);
  }
  if (byDay.size === 0) return { days: 0, changed: 0, skipped };
  const payload = JSON.stringify(
    [...byDay].map(([day, r]) => ({
      day,
      hours: r.hours,
      total_hours: r.total_hours,
      requests: r.requests,
      tokens_in: r.tokens_in,
      tokens_out: r.tokens_out,
      tts_characters: r.tts_characters,
      tts_requests: r.tts_requests,
      raw: r.raw ?? {},
    })),
  );
  const res = await sql<{ changed: number }>`
    with input as (
      select x.day, x.hours, x.total_hours, round(x.requests)::bigint as requests,
        round(x.tokens_in)::bigint as tokens_in, round(x.tokens_out)::bigint as tokens_out,
        round(x.tts_characters)::bigint as tts_characters, round(x.tts_requests)::bigint as tts_requests, x.raw
      from jsonb_to_recordset(${payload}::jsonb) as x(day date, hours double precision, total_hours double precision,
        requests numeric, tokens_in numeric, tokens_out numeric, tts_characters numeric, tts_requests numeric, raw jsonb)
    ),
    written as (
      insert into deepgram_archive.vendor_daily_usage as v
        (project_id, day, hours, total_hours, requests, tokens_in, tokens_out, tts_characters, tts_requests, raw, fetched_at, changed_at)
      select ${projectId}, day, hours, total_hours, requests, tokens_in, tokens_out, tts_characters, tts_requests, raw,
        ${now}::timestamptz, ${now}::timestamptz
      from input
      on conflict (project_id, day) do update set
        hours = excluded.hours, total_hours = excluded.total_hours, requests = excluded.requests,
        tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out, tts_characters = excluded.tts_characters,
        tts_requests = excluded.tts_requests, raw = excluded.raw, changed_at = excluded.changed_at
      where v.raw is distinct from excluded.raw
      returning 1
    )
    select count(*)::int as changed from written`.execute(db);
  return { days: byDay.size, changed: res.rows[0]!.changed, skipped };
}
