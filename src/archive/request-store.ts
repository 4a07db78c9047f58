import { sql, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import type { RequestRow } from "./request-row.js";

export interface UpsertResult {
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * Writes one page of rows in a single statement (one round trip, no per-row statements):
 * new rows are inserted; a row whose content hash changed is updated and its previous raw
 * copied to request_versions; every touched (project, day) is marked dirty for the summarizer,
 * with the day taken in `timezone`. Rows that did not change are not written at all.
 *
 * The content hash is computed by Postgres from the stored jsonb, so it is one definition for
 * the writer and for anyone verifying the archive later.
 */
export async function upsertRequests(
  trx: Transaction<Database>,
  args: { projectId: string; rows: RequestRow[]; timezone: string; now: Date },
): Promise<UpsertResult> {
  if (args.rows.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  const payload = JSON.stringify(args.rows);
  const result = await sql<{ inserted: number; updated: number; total: number }>`
    with input as (
      select distinct on (r.request_id, r.created)
        ${args.projectId}::text as project_id, r.request_id, r.created, r.path, r.endpoint, r.api_key_id,
        r.accessor, r.deployment, r.method, r.code, r.status, r.completed, r.duration_seconds,
        r.total_audio_seconds, r.usd, r.channels, r.streams, r.models, r.tags, r.features,
        r.callback_code, r.raw,
        encode(sha256(convert_to(r.raw::text, 'UTF8')), 'hex') as content_hash
      from jsonb_to_recordset(${payload}::jsonb) as r(
        request_id text, created timestamptz, path text, endpoint text, api_key_id text, accessor text,
        deployment text, method text, code integer, status text, completed timestamptz,
        duration_seconds double precision, total_audio_seconds double precision, usd numeric,
        channels integer, streams integer, models text[], tags text[], features text[],
        callback_code integer, raw jsonb)
      order by r.request_id, r.created
    ),
    previous as (
      select q.project_id, q.request_id, q.created, q.raw, q.content_hash, q.last_changed_at
      from deepgram_archive.requests q
      join input i on i.project_id = q.project_id and i.request_id = q.request_id and i.created = q.created
      -- No FOR UPDATE: every part of this statement reads one snapshot, so this sees the row as it
      -- was before the upsert below (locking it would skip rows the upsert already touched).
      where q.content_hash <> i.content_hash
    ),
    versions as (
      insert into deepgram_archive.request_versions
        (project_id, request_id, created, raw, content_hash, valid_from, superseded_at)
      select project_id, request_id, created, raw, content_hash, last_changed_at, ${args.now}::timestamptz
      from previous
      returning 1
    ),
    written as (
      insert into deepgram_archive.requests as q (
        project_id, request_id, created, path, endpoint, api_key_id, accessor, deployment, method, code,
        status, completed, duration_seconds, total_audio_seconds, usd, channels, streams, models, tags,
        features, callback_code, raw, content_hash, first_archived_at, last_changed_at)
      select project_id, request_id, created, path, endpoint, api_key_id, accessor, deployment, method, code,
        status, completed, duration_seconds, total_audio_seconds, usd, channels, streams,
        coalesce(models, '{}'), coalesce(tags, '{}'), coalesce(features, '{}'), callback_code, raw,
        content_hash, ${args.now}::timestamptz, ${args.now}::timestamptz
      from input
      on conflict (project_id, request_id, created) do update set
        path = excluded.path, endpoint = excluded.endpoint, api_key_id = excluded.api_key_id,
        accessor = excluded.accessor, deployment = excluded.deployment, method = excluded.method,
        code = excluded.code, status = excluded.status, completed = excluded.completed,
        duration_seconds = excluded.duration_seconds, total_audio_seconds = excluded.total_audio_seconds,
        usd = excluded.usd, channels = excluded.channels, streams = excluded.streams,
        models = excluded.models, tags = excluded.tags, features = excluded.features,
        callback_code = excluded.callback_code, raw = excluded.raw, content_hash = excluded.content_hash,
        last_changed_at = excluded.last_changed_at
      where q.content_hash <> excluded.content_hash
      returning q.project_id, q.created
    ),
    dirty as (
      insert into deepgram_archive.dirty_days (project_id, day, marked_at)
      select distinct project_id, (created at time zone ${args.timezone})::date, ${args.now}::timestamptz
      from written
      on conflict (project_id, day) do update set marked_at = excluded.marked_at
      returning 1
    )
    select
      ((select count(*) from written) - (select count(*) from versions))::int as inserted,
      (select count(*) from versions)::int as updated,
      (select count(*) from input)::int as total,
      (select count(*) from versions)::int as versions_written,
      (select count(*) from dirty)::int as days_marked
  `.execute(trx);
  const row = result.rows[0]!;
  return { inserted: row.inserted, updated: row.updated, unchanged: row.total - row.inserted - row.updated };
}
