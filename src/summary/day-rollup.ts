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
  // Group the day's rows by hashing rather than sorting. Either way is right, but sorting compares
  // text by the database's collation, and the planner sorts whenever it cannot tell how few groups
  // a day has: for these grouping expressions, always, with statistics or without. A hash
  // aggregate that outgrows work_mem spills to disk, so this costs no more memory than the
  // setting allows. Scoped to this transaction.
  await sql`set local enable_sort = off`.execute(trx);
  const changes = await writeRollups(trx, projectId, day, timezone);
  const markedAt = mark.rows[0]?.marked_at;
  if (markedAt !== undefined) {
    await sql`
      delete from deepgram_archive.dirty_days
      where project_id = ${projectId} and day = ${day}::date and marked_at = ${markedAt}::timestamptz`.execute(trx);
  }
  return changes;
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

/** A rollup row's figures from groups of request rows (sums exact in numeric until the end). */
const figures = sql`
  sum(g.requests)::bigint as requests,
  (sum(g.seconds) / 3600)::float8 as hours,
  (sum(g.total_seconds) / 3600)::float8 as total_hours,
  sum(g.usd)::numeric as usd`;

/**
 * Rewrites both rollups of the day in one statement over one read of its rows. The rows are first
 * grouped by everything either rollup groups by (the usage keys and the whole tag list), with
 * exact numeric sums; each rollup then adds those groups up. Numeric sums are exact, so this
 * gives what summing the rows directly gives, and each row is read and converted once instead of
 * once per rollup.
 */
async function writeRollups(trx: Transaction<Database>, projectId: string, day: string, timezone: string): Promise<DayChanges> {
  const r = await sql<DayChanges>`
    with groups as materialized (
      select coalesce(r.api_key_id, '') as api_key_id,
        r.endpoint,
        coalesce(r.method, '') as method,
        coalesce(nullif(r.raw #>> '{response,details,config,model}', ''), r.models[1], '') as model,
        r.status,
        r.tags,
        count(*)::bigint as requests,
        coalesce(sum(r.duration_seconds::numeric), 0) as seconds,
        coalesce(sum(r.total_audio_seconds::numeric), 0) as total_seconds,
        coalesce(sum(r.usd), 0)::numeric as usd
      from deepgram_archive.requests r
      where ${inDay(projectId, day, timezone)}
      group by 1, 2, 3, 4, 5, 6
    ),
    fresh_usage as (
      select ${projectId}::text as project_id, ${day}::date as day, g.api_key_id, g.endpoint, g.method, g.model, g.status,
        ${figures}
      from groups g
      group by 3, 4, 5, 6, 7
    ),
    -- Each distinct tag of a request counts once; a request without tags counts under ''.
    fresh_tags as (
      select ${projectId}::text as project_id, ${day}::date as day, t.tag, ${figures}
      from groups g
      cross join lateral (
        select distinct x as tag
        from unnest(case when cardinality(g.tags) = 0 then array['']::text[] else g.tags end) as x
      ) t
      group by t.tag
    ),
    changed_usage as (
      select * from fresh_usage
      except
      select project_id, day, api_key_id, endpoint, method, model, status, requests, hours, total_hours, usd
      from deepgram_archive.daily_usage where project_id = ${projectId} and day = ${day}::date
    ),
    upserted_usage as (
      insert into deepgram_archive.daily_usage as u
        (project_id, day, api_key_id, endpoint, method, model, status, requests, hours, total_hours, usd)
      select * from changed_usage
      on conflict (project_id, day, api_key_id, endpoint, method, model, status) do update set
        requests = excluded.requests, hours = excluded.hours, total_hours = excluded.total_hours, usd = excluded.usd
      returning (xmax = 0) as inserted
    ),
    removed_usage as (
      delete from deepgram_archive.daily_usage u
      where u.project_id = ${projectId} and u.day = ${day}::date
        and not exists (
          select 1 from fresh_usage f
          where f.api_key_id = u.api_key_id and f.endpoint = u.endpoint and f.method = u.method
            and f.model = u.model and f.status = u.status)
      returning 1
    ),
    changed_tags as (
      select * from fresh_tags
      except
      select project_id, day, tag, requests, hours, total_hours, usd
      from deepgram_archive.daily_usage_by_tag where project_id = ${projectId} and day = ${day}::date
    ),
    upserted_tags as (
      insert into deepgram_archive.daily_usage_by_tag as u (project_id, day, tag, requests, hours, total_hours, usd)
      select * from changed_tags
      on conflict (project_id, day, tag) do update set
        requests = excluded.requests, hours = excluded.hours, total_hours = excluded.total_hours, usd = excluded.usd
      returning (xmax = 0) as inserted
    ),
    removed_tags as (
      delete from deepgram_archive.daily_usage_by_tag u
      where u.project_id = ${projectId} and u.day = ${day}::date
        and not exists (select 1 from fresh_tags f where f.tag = u.tag)
      returning 1
    ),
    upserted as (select inserted from upserted_usage union all select inserted from upserted_tags)
    select (select count(*) from upserted where inserted)::int as inserted,
      (select count(*) from upserted where not inserted)::int as updated,
      ((select count(*) from removed_usage) + (select count(*) from removed_tags))::int as deleted`.execute(trx);
  return r.rows[0]!;
}
