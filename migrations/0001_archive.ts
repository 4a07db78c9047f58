import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new numbered migration, never by editing this one.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create schema if not exists deepgram_archive`.execute(db);

  await sql`
    create table deepgram_archive.projects (
      project_id text primary key,
      name text,
      archive_start timestamptz,
      -- Every window before this instant is complete or recorded as lost: planning starts here.
      accounted_until timestamptz,
      first_seen_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      raw jsonb
    )`.execute(db);

  // One row per request log. created is part of the key because the table is partitioned by it.
  await sql`
    create table deepgram_archive.requests (
      project_id text not null,
      request_id text not null,
      created timestamptz not null,
      path text,
      endpoint text not null,
      api_key_id text,
      accessor text,
      deployment text,
      method text,
      code integer,
      status text not null check (status in ('succeeded', 'failed', 'pending')),
      completed timestamptz,
      duration_seconds double precision,
      total_audio_seconds double precision,
      usd numeric,
      channels integer,
      streams integer,
      models text[] not null default '{}',
      tags text[] not null default '{}',
      features text[] not null default '{}',
      callback_code integer,
      raw jsonb not null,
      content_hash text not null,
      first_archived_at timestamptz not null,
      last_changed_at timestamptz not null,
      primary key (project_id, request_id, created)
    ) partition by range (created)`.execute(db);
  await sql`create table deepgram_archive.requests_default partition of deepgram_archive.requests default`.execute(db);
  await sql`create index requests_project_created_idx on deepgram_archive.requests (project_id, created)`.execute(db);
  await sql`create index requests_pending_idx on deepgram_archive.requests (project_id, created) where status = 'pending'`.execute(db);

  // The previous raw of a request each time its content changed: the audit trail.
  await sql`
    create table deepgram_archive.request_versions (
      version_id bigint generated always as identity primary key,
      project_id text not null,
      request_id text not null,
      created timestamptz not null,
      raw jsonb not null,
      content_hash text not null,
      valid_from timestamptz not null,
      superseded_at timestamptz not null
    )`.execute(db);
  await sql`create index request_versions_request_idx on deepgram_archive.request_versions (project_id, request_id, created)`.execute(db);

  // Days whose rollups must be rebuilt; written in the same transaction as the rows that dirtied them.
  await sql`
    create table deepgram_archive.dirty_days (
      project_id text not null,
      day date not null,
      marked_at timestamptz not null default now(),
      primary key (project_id, day)
    )`.execute(db);

  // The ledger: proof that each window was read to its end.
  await sql`
    create table deepgram_archive.sync_windows (
      project_id text not null,
      window_start timestamptz not null,
      window_end timestamptz not null,
      state text not null check (state in ('in_progress', 'complete', 'lost')),
      parts integer not null default 1,
      pages integer not null default 0,
      records integer not null default 0,
      fetch_count integer not null default 0,
      pages_fetched_total integer not null default 0,
      first_fetched_at timestamptz,
      last_fetched_at timestamptz,
      completed_at timestamptz,
      last_error text,
      primary key (project_id, window_start),
      check (window_end > window_start)
    )`.execute(db);

  await sql`
    create table deepgram_archive.sync_runs (
      run_id bigint generated always as identity primary key,
      command text not null,
      started_at timestamptz not null,
      finished_at timestamptz,
      outcome text not null check (outcome in ('running', 'succeeded', 'partial', 'failed', 'aborted')),
      projects integer not null default 0,
      windows_planned integer not null default 0,
      windows_completed integer not null default 0,
      pages integer not null default 0,
      records_seen integer not null default 0,
      inserted integer not null default 0,
      updated integer not null default 0,
      rejected integer not null default 0,
      retries integer not null default 0,
      error text,
      details jsonb not null default '{}'
    )`.execute(db);

  // Ranges that fell off Deepgram's 90-day horizon before they were archived.
  await sql`
    create table deepgram_archive.sync_gaps (
      project_id text not null,
      gap_start timestamptz not null,
      gap_end timestamptz not null,
      detected_at timestamptz not null,
      reason text not null,
      primary key (project_id, gap_start)
    )`.execute(db);

  // Items Deepgram sent that could not be archived (no request_id, unparsable created): kept, never dropped silently.
  await sql`
    create table deepgram_archive.rejected_items (
      project_id text not null,
      raw_hash text not null,
      raw jsonb not null,
      reason text not null,
      window_start timestamptz,
      first_seen_at timestamptz not null,
      last_seen_at timestamptz not null,
      seen_count integer not null default 1,
      primary key (project_id, raw_hash)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop schema if exists deepgram_archive cascade`.execute(db);
}
