import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new numbered migration, never by editing this one.
// Compliance (issue 6): the audit log, legal holds, day seals, the guard against ad-hoc edits and
// the read-only role. docs/COMPLIANCE.md explains each to operators.

export async function up(db: Kysely<any>): Promise<void> {
  // Append-only record of everything that removed, re-sealed or overrode archived data, and of
  // holds. `at` is the archiver's clock for its own entries and the server clock for entries the
  // guard trigger writes (overrides).
  await sql`
    create table deepgram_archive.audit_log (
      audit_id bigint generated always as identity primary key,
      at timestamptz not null,
      action text not null,
      command text,
      project_id text,
      range_start timestamptz,
      range_end timestamptz,
      rows bigint,
      actor text not null default session_user,
      detail jsonb not null default '{}'
    )`.execute(db);
  await sql`create index audit_log_action_idx on deepgram_archive.audit_log (action, audit_id)`.execute(db);

  // [since, until) of created; project_id null = every project. Released holds stay as history.
  await sql`
    create table deepgram_archive.legal_holds (
      hold_id bigint generated always as identity primary key,
      project_id text,
      since timestamptz not null,
      until timestamptz not null,
      reason text not null check (btrim(reason) <> ''),
      created_at timestamptz not null,
      created_by text not null default session_user,
      released_at timestamptz,
      release_reason text,
      released_by text,
      check (until > since),
      check ((released_at is null) = (release_reason is null))
    )`.execute(db);
  await sql`create index legal_holds_active_idx on deepgram_archive.legal_holds (project_id) where released_at is null`.execute(db);

  // Is a request (or one of its versions) covered by an active hold? A SQL function simple enough
  // for the planner to inline; retention, sealing and users' own queries share it.
  await sql`
    create function deepgram_archive.is_held(p_project_id text, p_created timestamptz) returns boolean
    language sql stable parallel safe as $$
      select exists (
        select 1 from deepgram_archive.legal_holds h
        where h.released_at is null
          and (h.project_id is null or h.project_id = p_project_id)
          and p_created >= h.since and p_created < h.until)
    $$`.execute(db);

  // The content hash, exactly as the page upsert computes it (src/archive/request-store.ts).
  await sql`
    create function deepgram_archive.content_hash(p_raw jsonb) returns text
    language sql stable parallel safe as $$
      select encode(sha256(convert_to(p_raw::text, 'UTF8')), 'hex')
    $$`.execute(db);

  // A hash of the typed columns, so an edit of usd or api_key_id that leaves raw alone is seen too.
  // Every value in a form that no session setting changes: timestamps as UTC timestamps, floats
  // as their 8 bytes, numeric as its text.
  await sql`
    create function deepgram_archive.request_columns_hash(r deepgram_archive.requests) returns text
    language sql stable parallel safe as $$
      select encode(sha256(convert_to(jsonb_build_array(
        r.project_id, r.request_id, r.created at time zone 'UTC', r.path, r.endpoint, r.api_key_id,
        r.accessor, r.deployment, r.method, r.code, r.status, r.completed at time zone 'UTC',
        encode(float8send(r.duration_seconds), 'hex'), encode(float8send(r.total_audio_seconds), 'hex'),
        r.usd::text, r.channels, r.streams, r.models, r.tags, r.features, r.callback_code
      )::text, 'UTF8')), 'hex')
    $$`.execute(db);

  // One seal per (project, UTC day) once the day is older than the rescan horizon: the row count
  // and a sha256 over the rows' content hashes ordered by (request_id in C collation, created).
  // audit_watermark: the newest audit_log entry when the day was sealed; an override logged after
  // it is a change made outside the archiver.
  await sql`
    create table deepgram_archive.day_seals (
      project_id text not null,
      day date not null,
      row_count integer not null,
      digest text not null,
      sealed_at timestamptz not null,
      first_sealed_at timestamptz not null,
      reseals integer not null default 0,
      checked_at timestamptz not null,
      audit_watermark bigint not null,
      primary key (project_id, day)
    )`.execute(db);
  // The sealed rows themselves, so verify can say which row changed, appeared or went.
  await sql`
    create table deepgram_archive.sealed_rows (
      project_id text not null,
      day date not null,
      request_id text not null,
      created timestamptz not null,
      content_hash text not null,
      columns_hash text not null,
      primary key (project_id, day, request_id, created)
    )`.execute(db);

  // The guard. Writes pass when the transaction declared itself one of the allowed writers
  // (trigger arguments) with set_config('deepgram_archive.writer', ..., true), which only the
  // archiver's own write paths do. 'admin-override: <reason>' passes too and is written to
  // audit_log row by row. Anything else is refused with a message that says what to do.
  // security definer: the override is logged even when the overriding role cannot insert there.
  await sql`
    create function deepgram_archive.refuse_unmarked_write() returns trigger
    language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
    declare
      writer text := coalesce(current_setting('deepgram_archive.writer', true), '');
      reason text;
      subject jsonb;
      old_row jsonb;
      new_row jsonb;
      key_created timestamptz;
      target text;
    begin
      if writer = any(TG_ARGV) then
        if TG_OP = 'DELETE' then return old; end if;
        return new;
      end if;
      if writer like 'admin-override:%' then
        reason := btrim(substr(writer, length('admin-override:') + 1));
        if reason = '' then
          raise exception 'an override of deepgram_archive.% needs a reason: admin-override: <reason>', TG_TABLE_NAME
            using errcode = 'insufficient_privilege';
        end if;
        if TG_LEVEL = 'ROW' then
          if TG_OP in ('UPDATE', 'DELETE') then old_row := to_jsonb(old) - 'raw'; end if;
          if TG_OP in ('UPDATE', 'INSERT') then new_row := to_jsonb(new) - 'raw'; end if;
          subject := coalesce(old_row, new_row);
          key_created := (subject ->> 'created')::timestamptz;
        end if;
        insert into deepgram_archive.audit_log (at, action, command, project_id, range_start, range_end, rows, detail)
        values (clock_timestamp(), 'override', nullif(current_setting('application_name', true), ''),
          subject ->> 'project_id', key_created, key_created, case when TG_LEVEL = 'ROW' then 1 end,
          jsonb_strip_nulls(jsonb_build_object(
            'table', TG_TABLE_NAME, 'operation', TG_OP, 'reason', reason,
            'request_id', subject ->> 'request_id',
            'old', old_row, 'new', new_row)));
        if TG_OP = 'DELETE' then return old; end if;
        return new;
      end if;
      -- Name the table the user wrote to, not the partition the row landed in.
      select coalesce(max(i.inhparent::regclass::text), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME) into target
      from pg_inherits i where i.inhrelid = TG_RELID;
      raise exception '% refuses % outside the archiver: archived data is append-only', target, TG_OP
        using errcode = 'insufficient_privilege',
          hint = 'To change archived data deliberately, an administrator runs the statement in a transaction that first calls '
            || 'select set_config(''deepgram_archive.writer'', ''admin-override: <reason>'', true); '
            || 'the change is written to deepgram_archive.audit_log and verify reports it. See docs/COMPLIANCE.md.';
    end
    $$`.execute(db);

  // Row triggers on the partitioned table are cloned to every partition, present and future. The
  // WHEN clause keeps the archiver's own writes out of PL/pgSQL entirely (no cost on the hot path).
  const archiverWriters = sql.raw(`'archiver', 'retention'`);
  for (const table of ["requests", "request_versions", "day_seals", "sealed_rows"]) {
    const t = sql.table(`deepgram_archive.${table}`);
    await sql`
      create trigger refuse_unmarked_change before update or delete on ${t}
      for each row when (coalesce(current_setting('deepgram_archive.writer', true), '') not in (${archiverWriters}))
      execute function deepgram_archive.refuse_unmarked_write(${archiverWriters})`.execute(db);
    await sql`
      create trigger refuse_unmarked_insert after insert on ${t}
      for each row when (coalesce(current_setting('deepgram_archive.writer', true), '') not in (${archiverWriters}))
      execute function deepgram_archive.refuse_unmarked_write(${archiverWriters})`.execute(db);
  }
  // Statement triggers are not cloned: each partition gets its own (protect_partitions below).
  for (const table of ["requests", "request_versions", "day_seals", "sealed_rows", "audit_log", "legal_holds"]) {
    await sql`
      create trigger refuse_truncate before truncate on ${sql.table(`deepgram_archive.${table}`)}
      for each statement execute function deepgram_archive.refuse_unmarked_write()`.execute(db);
  }
  // The audit log is append-only even for the archiver; a hold changes only by its release.
  await sql`
    create trigger refuse_unmarked_change before update or delete on deepgram_archive.audit_log
    for each row execute function deepgram_archive.refuse_unmarked_write()`.execute(db);
  await sql`
    create trigger refuse_unmarked_change before update or delete on deepgram_archive.legal_holds
    for each row when (coalesce(current_setting('deepgram_archive.writer', true), '') <> 'archiver')
    execute function deepgram_archive.refuse_unmarked_write('archiver')`.execute(db);

  // Gives every partition of requests its TRUNCATE guard; ensureMonthlyPartitions calls it in the
  // transaction that creates a partition. Returns how many partitions it protected.
  await sql`
    create function deepgram_archive.protect_partitions() returns integer
    language plpgsql as $$
    declare
      part regclass;
      n integer := 0;
    begin
      for part in
        select i.inhrelid::regclass from pg_inherits i
        where i.inhparent = 'deepgram_archive.requests'::regclass
          and not exists (select 1 from pg_trigger t where t.tgrelid = i.inhrelid and t.tgname = 'refuse_truncate')
      loop
        execute format('create trigger refuse_truncate before truncate on %s for each statement '
          'execute function deepgram_archive.refuse_unmarked_write()', part);
        n := n + 1;
      end loop;
      return n;
    end
    $$`.execute(db);
  await sql`select deepgram_archive.protect_partitions()`.execute(db);

  // Read-only access for analysts and auditors: created where this role may create roles, and
  // granted on everything in the schema, present and future (new partitions included).
  await sql`
    do $$
    begin
      if not exists (select 1 from pg_roles where rolname = 'deepgram_archive_reader') then
        create role deepgram_archive_reader nologin;
      end if;
    exception
      when insufficient_privilege then
        raise notice 'role deepgram_archive_reader not created: this role may not create roles (see docs/COMPLIANCE.md)';
      when duplicate_object or unique_violation then
        null;
    end
    $$`.execute(db);
  await sql`
    do $$
    begin
      if exists (select 1 from pg_roles where rolname = 'deepgram_archive_reader') then
        grant usage on schema deepgram_archive to deepgram_archive_reader;
        grant select on all tables in schema deepgram_archive to deepgram_archive_reader;
        alter default privileges in schema deepgram_archive grant select on tables to deepgram_archive_reader;
      end if;
    exception
      when insufficient_privilege then
        raise notice 'deepgram_archive_reader not granted read access: this role may not grant it (see docs/COMPLIANCE.md)';
    end
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    do $$
    declare part regclass;
    begin
      for part in select i.inhrelid::regclass from pg_inherits i where i.inhparent = 'deepgram_archive.requests'::regclass loop
        execute format('drop trigger if exists refuse_truncate on %s', part);
      end loop;
    end
    $$`.execute(db);
  for (const table of ["requests", "request_versions"]) {
    const t = sql.table(`deepgram_archive.${table}`);
    await sql`drop trigger if exists refuse_unmarked_change on ${t}`.execute(db);
    await sql`drop trigger if exists refuse_unmarked_insert on ${t}`.execute(db);
    await sql`drop trigger if exists refuse_truncate on ${t}`.execute(db);
  }
  await sql`drop table if exists deepgram_archive.sealed_rows, deepgram_archive.day_seals, deepgram_archive.legal_holds, deepgram_archive.audit_log`.execute(db);
  await sql`drop function if exists deepgram_archive.protect_partitions()`.execute(db);
  await sql`drop function if exists deepgram_archive.refuse_unmarked_write()`.execute(db);
  await sql`drop function if exists deepgram_archive.request_columns_hash(deepgram_archive.requests)`.execute(db);
  await sql`drop function if exists deepgram_archive.content_hash(jsonb)`.execute(db);
  await sql`drop function if exists deepgram_archive.is_held(text, timestamptz)`.execute(db);
}
