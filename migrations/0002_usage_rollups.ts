import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new numbered migration, never by editing this one.
// Deepgram's own daily usage, key labels, the day rollups and reconciliation (issue 3).

export async function up(db: Kysely<any>): Promise<void> {
  // Deepgram's /usage day results, exactly as received in `raw`, with the figures typed beside it.
  // fetched_at: when the day was first received; changed_at: when its figures last changed.
  await sql`
    create table deepgram_archive.vendor_daily_usage (
      project_id text not null,
      day date not null,
      hours double precision not null,
      total_hours double precision,
      requests bigint not null,
      tokens_in bigint,
      tokens_out bigint,
      tts_characters bigint,
      tts_requests bigint,
      raw jsonb not null,
      fetched_at timestamptz not null,
      changed_at timestamptz not null,
      primary key (project_id, day)
    )`.execute(db);

  // Key labels so SQL can name people and teams. No member e-mail: it is personal data.
  // deleted_at: the key was no longer listed; the row stays so old requests keep their label.
  await sql`
    create table deepgram_archive.api_keys (
      project_id text not null,
      api_key_id text not null,
      comment text,
      scopes text[] not null default '{}',
      tags text[] not null default '{}',
      created timestamptz,
      expiration_date timestamptz,
      first_seen_at timestamptz not null,
      last_seen_at timestamptz not null,
      deleted_at timestamptz,
      primary key (project_id, api_key_id)
    )`.execute(db);

  // Day rollups built by the summarizer. '' stands for "none" in the key columns so the primary
  // key can hold every group (a NULL would make each such row distinct).
  await sql`
    create table deepgram_archive.daily_usage (
      project_id text not null,
      day date not null,
      api_key_id text not null,
      endpoint text not null,
      method text not null,
      model text not null,
      status text not null check (status in ('succeeded', 'failed', 'pending')),
      requests bigint not null,
      hours double precision not null,
      total_hours double precision not null,
      usd numeric not null,
      primary key (project_id, day, api_key_id, endpoint, method, model, status)
    )`.execute(db);

  await sql`
    create view deepgram_archive.daily_usage_totals as
    select project_id, day,
      sum(requests)::bigint as requests,
      coalesce(sum(requests) filter (where status = 'succeeded'), 0)::bigint as succeeded,
      coalesce(sum(requests) filter (where status = 'failed'), 0)::bigint as failed,
      coalesce(sum(requests) filter (where status = 'pending'), 0)::bigint as pending,
      sum(hours) as hours,
      sum(total_hours) as total_hours,
      sum(usd) as usd
    from deepgram_archive.daily_usage
    group by project_id, day`.execute(db);

  // Per request tag ('' = untagged); a request with two tags counts under both. A table written in
  // the summarizer's transaction rather than a view: a view would have to read every request row
  // of the range (tags are not in daily_usage), and chargeback queries span months.
  await sql`
    create table deepgram_archive.daily_usage_by_tag (
      project_id text not null,
      day date not null,
      tag text not null,
      requests bigint not null,
      hours double precision not null,
      total_hours double precision not null,
      usd numeric not null,
      primary key (project_id, day, tag)
    )`.execute(db);

  // The zone whose days the rollups use. rebuilt_at null: every day must be rebuilt (first use,
  // or a zone change whose rebuild has not finished).
  await sql`
    create table deepgram_archive.summary_settings (
      id boolean primary key default true check (id),
      timezone text not null,
      recorded_at timestamptz not null,
      rebuilt_at timestamptz
    )`.execute(db);

  // Archived requests and hours per UTC day against Deepgram's /usage. flagged_at: first seen as a
  // mismatch; refetch_count: how many times its windows were planned again because of it.
  await sql`
    create table deepgram_archive.reconciliation (
      project_id text not null,
      day date not null,
      status text not null check (status in ('ok', 'mismatch', 'partial', 'no_vendor_data')),
      archived_requests bigint not null,
      vendor_requests bigint,
      archived_hours double precision not null,
      vendor_hours double precision,
      checked_at timestamptz not null,
      flagged_at timestamptz,
      refetch_count integer not null default 0,
      primary key (project_id, day)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists deepgram_archive.reconciliation`.execute(db);
  await sql`drop table if exists deepgram_archive.summary_settings`.execute(db);
  await sql`drop table if exists deepgram_archive.daily_usage_by_tag`.execute(db);
  await sql`drop view if exists deepgram_archive.daily_usage_totals`.execute(db);
  await sql`drop table if exists deepgram_archive.daily_usage`.execute(db);
  await sql`drop table if exists deepgram_archive.api_keys`.execute(db);
  await sql`drop table if exists deepgram_archive.vendor_daily_usage`.execute(db);
}
