import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { ApiKeyInfo } from "../deepgram/index.js";

export interface ApiKeysWrite {
  listed: number;
  /** Keys no longer listed, marked deleted now (they stay in the archive). */
  deleted: number;
}

/** A timestamp Postgres reads the same way everywhere, or null (a label is not worth failing for). */
function instant(text: string | null): string | null {
  if (text === null) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/**
 * Upserts the keys Deepgram lists for a project and marks the ones it no longer lists as deleted
 * (deleted_at), keeping them: old request rows still name them. A key listed again is undeleted.
 */
export async function storeApiKeys(db: Kysely<Database>, projectId: string, keys: ApiKeyInfo[], now: Date): Promise<ApiKeysWrite> {
  const byId = new Map(keys.map((k) => [k.api_key_id, k]));
  const payload = JSON.stringify(
    [...byId.values()].map((k) => ({
      api_key_id: k.api_key_id,
      comment: k.comment,
      scopes: k.scopes,
      tags: k.tags,
      created: instant(k.created),
      expiration_date: instant(k.expiration_date),
    })),
  );
  const res = await sql<{ deleted: number }>`
    with input as (
      select * from jsonb_to_recordset(${payload}::jsonb)
        as x(api_key_id text, comment text, scopes text[], tags text[], created timestamptz, expiration_date timestamptz)
    ),
    listed as (
      insert into deepgram_archive.api_keys as k
        (project_id, api_key_id, comment, scopes, tags, created, expiration_date, first_seen_at, last_seen_at)
      select ${projectId}, api_key_id, comment, coalesce(scopes, '{}'), coalesce(tags, '{}'), created, expiration_date,
        ${now}::timestamptz, ${now}::timestamptz
      from input
      on conflict (project_id, api_key_id) do update set
        comment = excluded.comment, scopes = excluded.scopes, tags = excluded.tags, created = excluded.created,
        expiration_date = excluded.expiration_date, last_seen_at = excluded.last_seen_at, deleted_at = null
      returning 1
    ),
    gone as (
      update deepgram_archive.api_keys k set deleted_at = ${now}::timestamptz
      where k.project_id = ${projectId} and k.deleted_at is null
        and not exists (select 1 from input i where i.api_key_id = k.api_key_id)
      returning 1
    )
    select (select count(*) from listed)::int as listed, (select count(*) from gone)::int as deleted`.execute(db);
  return { listed: byId.size, deleted: res.rows[0]!.deleted };
}
