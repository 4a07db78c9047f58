import { sql, type Kysely } from "kysely";

// Frozen once landed: change the schema with a new numbered migration, never by editing this one.

/**
 * requests.source_sha256: the sha256 of the JSON text `raw` was parsed from, as the archiver
 * received it (the item's bytes as Deepgram sent them, or the archiver's serialization of the item
 * when Postgres could not read those as is). A rescan hashes each listed item and compares: the
 * same bytes parse to the same raw, so a row whose hash matches is unchanged without sending or
 * parsing the item again. Null for rows archived before this migration and for a row whose raw
 * was changed by anything but the archiver's own update (the trigger below): those rows are
 * compared by content_hash as before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table deepgram_archive.requests add column source_sha256 bytea`.execute(db);
  await sql`
    create function deepgram_archive.forget_source_hash() returns trigger
    language plpgsql as $$
    begin
      new.source_sha256 := null;
      return new;
    end
    $$`.execute(db);
  // Cloned to every partition, present and future. The archiver's own updates (writer 'archiver',
  // migrations/0003) set the hash of the bytes they parse; any other update that changes raw and
  // leaves the hash as it was reaches the function.
  await sql`
    create trigger forget_source_hash before update on deepgram_archive.requests
    for each row when (coalesce(current_setting('deepgram_archive.writer', true), '') <> 'archiver'
      and new.raw is distinct from old.raw and new.source_sha256 is not distinct from old.source_sha256)
    execute function deepgram_archive.forget_source_hash()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists forget_source_hash on deepgram_archive.requests`.execute(db);
  await sql`drop function if exists deepgram_archive.forget_source_hash()`.execute(db);
  await sql`alter table deepgram_archive.requests drop column if exists source_sha256`.execute(db);
}
