import { sql, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";

export interface DayChanges {
  inserted: number;
  updated: number;
  deleted: number;
}

/** Advisory-lock class for one (project, day) of the rollups: two summarizers never build the same day at once. */
const DAY_LOCK_CLASS = 0x0d9a_0003;

/**
 * Rebuilds one local day of one project (daily_usage and daily_usage_by_tag) and clears its dirty
 * mark, inside the caller's transaction. The rollup rows are computed from `requests` for
 * `created` in [local midnight, next local midnight) of `timezone`, which Postgres works out with
 * `at time zone` (so a daylight-saving day has 23 or 25 hours). Only rows that differ from what
 * is stored are written: summarizing an unchanged day writes nothing at all.
 *
 * The dirty mark is locked first, so a page that marks the day while this runs waits for this
 * transaction and marks the day again after it (its rows are then summarized next time); the mark
 * is removed only if it is still the one that was read.
 */
export async function summarizeDay(trx: Transaction<Database>, projectId: string, day: string, timezone: string): Promise<DayChanges> {
  await sql`select pg_advisory_xact_lock(${DAY_LOCK_CLASS}, hashtext(${projectId} || ' ' || ${day}))`.execute(trx);
  const mark = await sql<{ marked_at: string }>`
    select marked_at::text as marked_at from deepgram_archive.dirty_days
    where project_id = ${projectId} and day = ${day}::date
    for update`.execute(trx);
  const usage = await writeUsageRollup(trx, projectId, day, timezone);
  const tags = await writeTagRollup(trx, projectId, day, timezone);
  const markedAt = mark.rows[0]?.marked_at;
  if (markedAt !== undefined) {
    await sql`
      delete from deepgram_archive.dirty_days
      where project_id = ${projectId} and day = ${day}::date and marked_at = ${markedAt}::timestamptz`.execute(trx);
  }
  return { inserted: usage.inserted + tags.inserted, updated: usage.updated + tags.updated, deleted: usage.deleted + tags.deleted };
}

/**
 * The request rows of the local day. Sums of seconds are taken in numeric, which is exact and
 * does not depend on the order rows are read in, so the same rows always give the same
 * double-precision hours and an unchanged day compares equal to what is stored.
 */
const inDay = (projectId: string, day: string, timezone: string) => sql`
  r.project_id = ${projectId}
  and r.created >= (${day}::date::timestamp at time zone ${timezone})
  and r.created < ((${day}::date + 1)::timestamp at time zone ${timezone})`;

const figures = sql`
  count(*)::bigint as requests,
  (coalesce(sum(r.duration_seconds::numeric), 0) / 3600)::float8 as hours,
  (coalesce(sum(r.total_audio_seconds::numeric), 0) / 3600)::float8 as total_hours,
  coalesce(sum(r.usd), 0)::numeric as usd`;

async function writeUsageRollup(trx: Transaction<Database>, projectId: string, day: string, timezone: string): Promise<DayChanges> {
  const r = await sql<DayChanges>`
    with fresh as (
      select ${projectId}::text as project_id, ${day}::date as day,
        coalesce(r.api_key_id, '') as api_key_id,
        r.endpoint,
        coalesce(r.method, '') as method,
        coalesce(nullif(r.raw #>> '{response,details,config,model}', ''), r.models[1], '') as model,
        r.status,
        ${figures}
      from deepgram_archive.requests r
      where ${inDay(projectId, day, timezone)}
      group by 3, 4, 5, 6, 7
    ),
    changed as (
      select * from fresh
      except
      select project_id, day, api_key_id, endpoint, method, model, status, requests, hours, total_hours, usd
      from deepgram_archive.daily_usage where project_id = ${projectId} and day = ${day}::date
    ),
    upserted as (
      insert into deepgram_archive.daily_usage as u
        (project_id, day, api_key_id, endpoint, method, model, status, requests, hours, total_hours, usd)
      select * from changed
      on conflict (project_id, day, api_key_id, endpoint, method, model, status) do update set
        requests = excluded.requests, hours = excluded.hours, total_hours = excluded.total_hours, usd = excluded.usd
      returning (xmax = 0) as inserted
    ),
    removed as (
      delete from deepgram_archive.daily_usage u
      where u.project_id = ${projectId} and u.day = ${day}::date
        and not exists (
          select 1 from fresh f
          where f.api_key_id = u.api_key_id and f.endpoint = u.endpoint and f.method = u.method
            and f.model = u.model and f.status = u.status)
      returning 1
    )
    select (select count(*) from upserted where inserted)::int as inserted,
      (select count(*) from upserted where not inserted)::int as updated,
      (select count(*) from removed)::int as deleted`.execute(trx);
  return r.rows[0]!;
}

/** Each distinct tag of a request counts once; a request without tags counts under ''. */
async function writeTagRollup(trx: Transaction<Database>, projectId: string, day: string, timezone: string): Promise<DayChanges> {
  const r = await sql<DayChanges>`
    with fresh as (
      select ${projectId}::text as project_id, ${day}::date as day, t.tag, ${figures}
      from deepgram_archive.requests r
      cross join lateral (
        select distinct x as tag
        from unnest(case when cardinality(r.tags) = 0 then array['']::text[] else r.tags end) as x
      ) t
      where ${inDay(projectId, day, timezone)}
      group by t.tag
    ),
    changed as (
      select * from fresh
      except
      select project_id, day, tag, requests, hours, total_hours, usd
      from deepgram_archive.daily_usage_by_tag where project_id = ${projectId} and day = ${day}::date
    ),
    upserted as (
      insert into deepgram_archive.daily_usage_by_tag as u (project_id, day, tag, requests, hours, total_hours, usd)
      select * from changed
      on conflict (project_id, day, tag) do update set
        requests = excluded.requests, hours = excluded.hours, total_hours = excluded.total_hours, usd = excluded.usd
      returning (xmax = 0) as inserted
    ),
    removed as (
      delete from deepgram_archive.daily_usage_by_tag u
      where u.project_id = ${projectId} and u.day = ${day}::date
        and not exists (select 1 from fresh f where f.tag = u.tag)
      returning 1
    )
    select (select count(*) from upserted where inserted)::int as inserted,
      (select count(*) from upserted where not inserted)::int as updated,
      (select count(*) from removed)::int as deleted`.execute(trx);
  return r.rows[0]!;
}
