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
 *
 * Two parameters carry the page (see bench/README.md for the measurements behind the shape):
 * the typed columns as one small JSON array of arrays, and the items' JSON texts joined by a
 * record separator (a control character, which JSON text cannot contain unescaped), each parsed
 * into jsonb on its own. The texts are the ones Deepgram sent when the page could be split
 * (`raw_text`), so no item is serialized again; otherwise `raw` is serialized here.
 */
export async function upsertRequests(
  trx: Transaction<Database>,
  args: { projectId: string; rows: RequestRow[]; timezone: string; now: Date },
): Promise<UpsertResult> {
  if (args.rows.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  const typed = JSON.stringify(args.rows.map(typedColumns));
  const raws = args.rows.map((r) => r.raw_text ?? JSON.stringify(r.raw)).join(RECORD_SEPARATOR);
  const result = await sql<{ inserted: number; updated: number; total: number }>`
    with input as (
      select distinct on (t.v ->> 0, (t.v ->> 1)::timestamptz)
        ${args.projectId}::text as project_id, t.v ->> 0 as request_id, (t.v ->> 1)::timestamptz as created,
        t.v ->> 2 as path, t.v ->> 3 as endpoint, t.v ->> 4 as api_key_id, t.v ->> 5 as accessor,
        t.v ->> 6 as deployment, t.v ->> 7 as method, (t.v ->> 8)::integer as code, t.v ->> 9 as status,
        (t.v ->> 10)::timestamptz as completed, (t.v ->> 11)::double precision as duration_seconds,
        (t.v ->> 12)::double precision as total_audio_seconds, (t.v ->> 13)::numeric as usd,
        (t.v ->> 14)::integer as channels, (t.v ->> 15)::integer as streams, (t.v ->> 16)::text[] as models,
        (t.v ->> 17)::text[] as tags, (t.v ->> 18)::text[] as features, (t.v ->> 19)::integer as callback_code,
        x.raw, encode(sha256(convert_to(x.raw::text, 'UTF8')), 'hex') as content_hash
      from jsonb_array_elements(${typed}::jsonb) with ordinality as t(v, n)
      -- "offset 0" keeps this subquery whole, so each item is parsed once (inlined, x.raw is parsed
      -- again for every use: here, the hash and the insert).
      join (select s.item::jsonb as raw, s.n from string_to_table(${raws}::text, ${RECORD_SEPARATOR}) with ordinality as s(item, n) offset 0) x
        on x.n = t.n
      order by t.v ->> 0, (t.v ->> 1)::timestamptz
    ),
    previous as (
      select q.project_id, q.request_id, q.created, q.raw, q.content_hash, q.last_changed_at
      from input i
      -- One primary-key probe per input row. "offset 0" keeps the planner from flattening this into
      -- a join it may plan as a scan of every partition (it did, on a table not yet analyzed).
      cross join lateral (
        select r.project_id, r.request_id, r.created, r.raw, r.content_hash, r.last_changed_at
        from deepgram_archive.requests r
        where r.project_id = i.project_id and r.request_id = i.request_id and r.created = i.created
        offset 0
      ) q
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
        status, completed, duration_seconds, total_audio_seconds, usd, channels, streams, models, tags,
        features, callback_code, raw, content_hash, ${args.now}::timestamptz, ${args.now}::timestamptz
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

/** ASCII record separator: JSON text has no unescaped control characters, so it cannot occur in an item. */
const RECORD_SEPARATOR = "\x1e";

/** A row's typed columns in the order the statement reads them; text[] columns as array literals. */
function typedColumns(r: RequestRow): unknown[] {
  return [
    r.request_id, r.created, r.path, r.endpoint, r.api_key_id, r.accessor, r.deployment, r.method, r.code, r.status,
    r.completed, r.duration_seconds, r.total_audio_seconds, r.usd, r.channels, r.streams,
    arrayLiteral(r.models), arrayLiteral(r.tags), arrayLiteral(r.features), r.callback_code,
  ];
}

/** A text[] literal: every element quoted, with backslash and double quote escaped. */
function arrayLiteral(values: string[]): string {
  if (values.length === 0) return "{}";
  let out = "{";
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out += `${i === 0 ? "" : ","}"${/["\\]/.test(v) ? v.replace(/["\\]/g, "\\$&") : v}"`;
  }
  return out + "}";
}
