import { hash } from "node:crypto";
import { sql, type RawBuilder, type Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import type { RequestRow } from "./request-row.js";

export interface UpsertResult {
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * Writes one page of rows (one round trip, no per-row statements): new rows are inserted; a row
 * whose content hash changed is updated and its previous raw copied to request_versions; every
 * touched (project, day) is marked dirty for the summarizer, with the day taken in `timezone`.
 * Rows that did not change are not written at all.
 *
 * The content hash is computed by Postgres from the stored jsonb, so it is one definition for
 * the writer and for anyone verifying the archive later.
 *
 * Two parameters carry the page, row by row, each a text of one record per row joined by a record
 * separator (a control character, which JSON text cannot contain unescaped): the typed columns
 * toRequestRow derives, each row's as a small JSON array (the columns that are the item's own
 * strings are read from raw: itemText), and the items' JSON. An item's JSON is its bytes as
 * Deepgram sent them when Postgres can read them as is (`raw_source`), so no item is serialized or
 * encoded again (a Buffer goes to Postgres as a binary-format text parameter, which is those
 * bytes); otherwise `raw` serialized here. Postgres parses each record on its own: one jsonb of a
 * whole page cost it several times more per item (bench/README.md, item 14).
 *
 * The first statement inserts the rows that are not archived yet and counts the archived ones
 * whose content changed; only then (rescans of records that changed, a small minority) does a
 * second statement version and update them. A backfill thus pays one index range scan per page
 * instead of a conflict check per row.
 *
 * Each row also stores the sha256 of the JSON text its raw was parsed from (`source_sha256`). When
 * the page is expected to be archived already (`expectArchived`: a rescan, a window read again),
 * a small statement first finds the rows whose stored hash is the one of the bytes just received:
 * the same bytes parse to the same raw, so those rows are unchanged and are neither sent nor parsed
 * again. A rescan of records that did not change thus costs a hash a row here and one index range
 * scan in Postgres. Rows whose bytes differ (or whose hash is null) are compared by content hash.
 */
export async function upsertRequests(
  trx: Transaction<Database>,
  args: { projectId: string; rows: RequestRow[]; timezone: string; now: Date; expectArchived?: boolean },
): Promise<UpsertResult> {
  if (args.rows.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  let records = args.rows.map(toRecord);
  let known = 0;
  if (args.expectArchived === true) {
    const same = await findUnchanged(trx, args.projectId, records);
    if (same.size > 0) {
      records = records.filter((_, i) => !same.has(i));
      known = same.size;
    }
    if (records.length === 0) return { inserted: 0, updated: 0, unchanged: known };
  }
  const page = encodePage(records);
  const first = await insertNew(trx, args, page);
  const updated = first.changed > 0 ? await updateChanged(trx, args, page) : 0;
  return { inserted: first.inserted, updated, unchanged: known + first.total - first.inserted - updated };
}

/** A row with the JSON text sent to Postgres as its raw, and that text's sha256 (hex). */
interface PageRecord {
  row: RequestRow;
  json: Buffer;
  sha256: string;
}

function toRecord(row: RequestRow): PageRecord {
  if (row.raw_source === undefined && row.raw === null) throw new Error(`request ${row.request_id}: neither its bytes nor its parsed item to store`);
  const json = row.raw_source ?? Buffer.from(JSON.stringify(row.raw), "utf8");
  return { row, json, sha256: hash("sha256", json, "hex") };
}

/**
 * The indexes of `records` archived with the same source hash: unchanged, by the bytes alone. One
 * index range scan over the page's exact time span (as insertNew's), the constant bounds for
 * partition pruning: bounds a day wide on each side made the planner scan thousands of rows a page.
 */
async function findUnchanged(trx: Transaction<Database>, projectId: string, records: PageRecord[]): Promise<Set<number>> {
  const { lo, hi } = createdBounds(records);
  const join = (f: (r: PageRecord) => string) => records.map(f).join(RECORD_SEPARATOR);
  const result = await sql<{ i: number }>`
    with page as materialized (
      select p.request_id, p.created::timestamptz as created, decode(p.sha256, 'hex') as sha256, p.n
      from unnest(
        string_to_array(${join((r) => r.row.request_id)}::text, ${RECORD_SEPARATOR}),
        string_to_array(${join((r) => r.row.created)}::text, ${RECORD_SEPARATOR}),
        string_to_array(${join((r) => r.sha256)}::text, ${RECORD_SEPARATOR})
      ) with ordinality as p(request_id, created, sha256, n)
    )
    select (p.n - 1)::int as i
    from page p
    join deepgram_archive.requests r on r.request_id = p.request_id and r.created = p.created
    where r.project_id = ${projectId}
      and r.created >= (select min(created) from page) and r.created <= (select max(created) from page)
      and r.created >= ${lo}::timestamptz and r.created < ${hi}::timestamptz
      and r.source_sha256 = p.sha256
  `.execute(trx);
  return new Set(result.rows.map((r) => r.i));
}

interface EncodedPage {
  /** Each row's typed columns as a JSON array, joined by RECORD_SEPARATOR. */
  typed: string;
  /** Each row's item as JSON text (UTF-8), joined by RECORD_SEPARATOR. */
  raws: Buffer;
  /** Each row's source hash (hex), joined by RECORD_SEPARATOR. */
  hashes: string;
  /** A request id occurs twice: the rows are deduplicated by (request_id, created). */
  repeats: boolean;
  lo: string;
  hi: string;
}

function encodePage(records: PageRecord[]): EncodedPage {
  const typed = records.map((r) => JSON.stringify(typedColumns(r.row))).join(RECORD_SEPARATOR);
  const raws = joinRecords(records.map((r) => r.json));
  const hashes = records.map((r) => r.sha256).join(RECORD_SEPARATOR);
  // A request listed twice in one page is stored once; the fetcher never passes one, so the sort
  // that finds them (over rows carrying their raw) is only paid when a request id repeats.
  const repeats = new Set(records.map((r) => r.row.request_id)).size < records.length;
  return { typed, raws, hashes, repeats, ...createdBounds(records) };
}

/** The records joined by RECORD_SEPARATOR, copied once into one buffer. */
function joinRecords(records: Buffer[]): Buffer {
  let length = records.length - 1;
  for (const r of records) length += r.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    if (i > 0) out[at++] = RECORD_SEPARATOR_BYTE;
    at += records[i]!.copy(out, at);
  }
  return out;
}

/** The page as rows with typed columns, raw jsonb and content hash. */
function inputRows(projectId: string, page: EncodedPage) {
  const { typed, raws, hashes, repeats } = page;
  // Each record is parsed once: "offset 0" keeps the subquery whole (inlined, x.raw would be parsed
  // again for every use: the hash and the insert). unnest of three arrays pairs them row by row.
  const records = sql`(
      select r.typed::jsonb as v, r.item::jsonb as raw, decode(r.sha256, 'hex') as source_sha256
      from unnest(
        string_to_array(${typed}::text, ${RECORD_SEPARATOR}), string_to_array(${raws}::text, ${RECORD_SEPARATOR}),
        string_to_array(${hashes}::text, ${RECORD_SEPARATOR})) as r(typed, item, sha256)
      offset 0)`;
  return sql`(
      select ${repeats ? sql`distinct on (x.raw ->> 'request_id', (x.raw ->> 'created')::timestamptz)` : sql``}
        ${projectId}::text as project_id, x.raw ->> 'request_id' as request_id, (x.raw ->> 'created')::timestamptz as created,
        ${itemText("path")} as path, x.v ->> 0 as endpoint, ${itemText("api_key_id")} as api_key_id,
        ${itemText("accessor")} as accessor, ${itemText("deployment")} as deployment,
        x.v ->> 1 as method, (x.v ->> 2)::integer as code, x.v ->> 3 as status,
        (x.v ->> 4)::timestamptz as completed, (x.v ->> 5)::double precision as duration_seconds,
        (x.v ->> 6)::double precision as total_audio_seconds, (x.v ->> 7)::numeric as usd,
        (x.v ->> 8)::integer as channels, (x.v ->> 9)::integer as streams, (x.v ->> 10)::text[] as models,
        (x.v ->> 11)::text[] as tags, (x.v ->> 12)::text[] as features, (x.v ->> 13)::integer as callback_code,
        x.raw, encode(sha256(convert_to(x.raw::text, 'UTF8')), 'hex') as content_hash, x.source_sha256
      from ${records} x
      ${repeats ? sql`order by x.raw ->> 'request_id', (x.raw ->> 'created')::timestamptz` : sql``}
    )`;
}

/**
 * Inserts the page's rows that are not archived yet (plain insert: the rows already there were
 * found by one range scan of the page's time span, and the per-project lock keeps other writers
 * out meanwhile; a row that appeared anyway fails the page on the primary key, to be read again).
 * Counts the archived rows whose content differs, for updateChanged.
 */
async function insertNew(
  trx: Transaction<Database>,
  args: { projectId: string; timezone: string; now: Date },
  page: EncodedPage,
): Promise<{ inserted: number; changed: number; total: number }> {
  const result = await sql<{ inserted: number; changed: number; total: number }>`
    with input as ${inputRows(args.projectId, page)},
    existing as materialized (
      select r.request_id, r.created, r.content_hash
      from deepgram_archive.requests r
      where r.project_id = ${args.projectId}
        and r.created >= (select min(created) from input) and r.created <= (select max(created) from input)
        -- Constant bounds as well, so planning prunes partitions before the bounds above are known.
        and r.created >= ${page.lo}::timestamptz and r.created < ${page.hi}::timestamptz
    ),
    inserted as (
      insert into deepgram_archive.requests (
        project_id, request_id, created, path, endpoint, api_key_id, accessor, deployment, method, code,
        status, completed, duration_seconds, total_audio_seconds, usd, channels, streams, models, tags,
        features, callback_code, raw, content_hash, first_archived_at, last_changed_at, source_sha256)
      select project_id, request_id, created, path, endpoint, api_key_id, accessor, deployment, method, code,
        status, completed, duration_seconds, total_audio_seconds, usd, channels, streams, models, tags,
        features, callback_code, raw, content_hash, ${args.now}::timestamptz, ${args.now}::timestamptz, source_sha256
      from input i
      where not exists (select 1 from existing e where e.request_id = i.request_id and e.created = i.created)
      returning created
    ),
    dirty as ${markDirty(args, sql`inserted`)}
    select
      (select count(*) from inserted)::int as inserted,
      (select count(*) from input i join existing e on e.request_id = i.request_id and e.created = i.created
        where e.content_hash <> i.content_hash)::int as changed,
      (select count(*) from input)::int as total,
      (select count(*) from dirty)::int as days_marked
  `.execute(trx);
  return result.rows[0]!;
}

/**
 * Versions and updates the page's archived rows whose content hash changed and marks their days
 * dirty (run after insertNew, in the same transaction). Returns the rows versioned.
 */
async function updateChanged(
  trx: Transaction<Database>,
  args: { projectId: string; timezone: string; now: Date },
  page: EncodedPage,
): Promise<number> {
  const { lo, hi } = page;
  const result = await sql<{ updated: number }>`
    with input as ${inputRows(args.projectId, page)},
    previous as (
      select i.*, q.raw as old_raw, q.content_hash as old_hash, q.last_changed_at as old_changed_at
      from input i
      -- One primary-key probe per row. Every part of this statement reads one snapshot, so this
      -- sees the row as it was before the statement (no FOR UPDATE: the project lock keeps other
      -- writers out). The created bounds prune partitions when planning; "offset 0" keeps the
      -- planner from turning the probes into a scan of every partition.
      cross join lateral (
        select r.raw, r.content_hash, r.last_changed_at
        from deepgram_archive.requests r
        where r.project_id = i.project_id and r.request_id = i.request_id and r.created = i.created
          and r.created >= ${lo}::timestamptz and r.created < ${hi}::timestamptz
        offset 0
      ) q
      where q.content_hash <> i.content_hash
    ),
    versions as (
      insert into deepgram_archive.request_versions
        (project_id, request_id, created, raw, content_hash, valid_from, superseded_at)
      select project_id, request_id, created, old_raw, old_hash, old_changed_at, ${args.now}::timestamptz
      from previous
      returning 1
    ),
    changed as (
      update deepgram_archive.requests as q set
        path = p.path, endpoint = p.endpoint, api_key_id = p.api_key_id, accessor = p.accessor,
        deployment = p.deployment, method = p.method, code = p.code, status = p.status, completed = p.completed,
        duration_seconds = p.duration_seconds, total_audio_seconds = p.total_audio_seconds, usd = p.usd,
        channels = p.channels, streams = p.streams, models = p.models, tags = p.tags, features = p.features,
        callback_code = p.callback_code, raw = p.raw, content_hash = p.content_hash, last_changed_at = ${args.now}::timestamptz,
        source_sha256 = p.source_sha256
      from previous p
      where q.project_id = p.project_id and q.request_id = p.request_id and q.created = p.created
        and q.created >= ${lo}::timestamptz and q.created < ${hi}::timestamptz
        and q.content_hash <> p.content_hash
      returning q.created
    ),
    dirty as ${markDirty(args, sql`changed`)}
    select
      (select count(*) from versions)::int as updated,
      (select count(*) from changed)::int as rows_changed,
      (select count(*) from dirty)::int as days_marked
  `.execute(trx);
  return result.rows[0]!.updated;
}

/** Marks dirty, for the summarizer, each local day of `timezone` holding a `created` of `rows` (a CTE). */
function markDirty(args: { projectId: string; timezone: string; now: Date }, rows: RawBuilder<unknown>) {
  return sql`(
      insert into deepgram_archive.dirty_days (project_id, day, marked_at)
      select distinct ${args.projectId}::text, (created at time zone ${args.timezone})::date, ${args.now}::timestamptz
      from ${rows}
      on conflict (project_id, day) do update set marked_at = excluded.marked_at
      returning 1
    )`;
}

/**
 * Bounds on the page's `created` for partition pruning, a day wider than the rows on each side:
 * generous because JavaScript reads the instants to the millisecond and Postgres to the microsecond.
 */
function createdBounds(records: PageRecord[]): { lo: string; hi: string } {
  let min = Infinity;
  let max = -Infinity;
  for (const r of records) {
    const t = Date.parse(r.row.created);
    if (Number.isNaN(t)) return { lo: "-infinity", hi: "infinity" };
    if (t < min) min = t;
    if (t > max) max = t;
  }
  const lo = min - 86_400_000;
  const hi = max + 86_400_000;
  // toISOString writes years outside 0000-9999 in a form Postgres does not read.
  if (lo < YEAR_1_MS || hi > YEAR_9999_MS) return { lo: "-infinity", hi: "infinity" };
  return { lo: new Date(lo).toISOString(), hi: new Date(hi).toISOString() };
}

const YEAR_1_MS = Date.parse("0001-01-01T00:00:00Z");
const YEAR_9999_MS = Date.parse("9999-01-01T00:00:00Z");

/** ASCII record separator: JSON text has no unescaped control characters, so it cannot occur in an item. */
const RECORD_SEPARATOR = "\x1e";
const RECORD_SEPARATOR_BYTE = 0x1e;

/**
 * The item's own strings that are columns unchanged (the rule of toRequestRow's `text`: a
 * non-empty JSON string, else null), read by Postgres from the stored raw rather than sent beside
 * it: they are most of a row's typed bytes (ids, the path, the time), and Postgres has parsed raw
 * anyway. `request_id` and `created` are read as is: the fetcher stores only items where both are
 * strings.
 */
function itemText(key: "path" | "api_key_id" | "accessor" | "deployment") {
  return sql`case when jsonb_typeof(x.raw -> ${sql.lit(key)}) = 'string' then nullif(x.raw ->> ${sql.lit(key)}, '') end`;
}

/**
 * A row's columns that toRequestRow derives (parsed, normalized or checked), in the order the
 * statement reads them (text[] as array literals).
 */
function typedColumns(r: RequestRow): unknown[] {
  return [
    r.endpoint, r.method, r.code, r.status, r.completed, r.duration_seconds, r.total_audio_seconds, r.usd,
    r.channels, r.streams, arrayLiteral(r.models), arrayLiteral(r.tags), arrayLiteral(r.features), r.callback_code,
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
