import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { once } from "node:events";
import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { csvRecord } from "./csv.js";
import { withoutJit } from "./writer.js";

export type ExportFormat = "jsonl" | "csv";

/** The typed columns of a CSV export, in order (the header line). */
export const CSV_COLUMNS = [
  "project_id",
  "request_id",
  "created",
  "path",
  "endpoint",
  "api_key_id",
  "accessor",
  "deployment",
  "method",
  "code",
  "status",
  "completed",
  "duration_seconds",
  "total_audio_seconds",
  "usd",
  "channels",
  "streams",
  "models",
  "tags",
  "features",
  "callback_code",
  "content_hash",
  "first_archived_at",
  "last_changed_at",
] as const;

export interface ExportManifest {
  file: string;
  format: ExportFormat;
  rows: number;
  bytes: number;
  sha256: string;
  /** [since, until) of the requests' created, as given and as instants. */
  range: { since: string; until: string; given: { since: string; until: string }; timezone: string };
  /** Projects whose rows the file holds, with their counts; projectFilter: what was asked for. */
  projects: string[];
  rowsByProject: Record<string, number>;
  projectFilter: string[] | null;
  /** The newest migration applied to the database exported from. */
  schemaVersion: string | null;
  exportedAt: string;
  order: string;
  columns?: readonly string[];
  /** How each line relates to the archive (JSONL: the sha256 of a line is the row's content_hash). */
  notes: string;
}

export interface ExportOptions {
  since: Date;
  until: Date;
  given: { since: string; until: string };
  timezone: string;
  format: ExportFormat;
  projectIds: readonly string[] | null;
  out: string;
  now: Date;
  /** Rows per cursor fetch (default 1000): memory stays bounded by one batch. */
  batchRows?: number;
}

const BATCH_ROWS = 1000;

export const manifestPath = (file: string): string => `${file}.manifest.json`;

/**
 * Streams the archived requests created in [since, until) to `out` in constant memory: a
 * server-side cursor read 1000 rows at a time in one read-only snapshot, written with
 * back-pressure and hashed on the way. The file appears under its name only when complete; the
 * manifest beside it records the count, the sha256, the range and the schema version.
 */
export async function exportArchive(db: Kysely<Database>, opts: ExportOptions): Promise<ExportManifest> {
  const tmp = `${opts.out}.partial-${process.pid}`;
  const hash = createHash("sha256");
  const stream = createWriteStream(tmp, { flags: "wx" });
  let bytes = 0;
  let rows = 0;
  const rowsByProject: Record<string, number> = {};
  const write = async (text: string) => {
    const buf = Buffer.from(text, "utf8");
    hash.update(buf);
    bytes += buf.length;
    if (!stream.write(buf)) await once(stream, "drain");
  };
  const projects = JSON.stringify(opts.projectIds ?? []);

  let schemaVersion: string | null = null;
  try {
    await db.transaction().execute(async (trx) => {
      await sql`set transaction isolation level repeatable read, read only`.execute(trx);
      await withoutJit(trx);
      schemaVersion =
        (await sql<{ name: string }>`select name from deepgram_archive.kysely_migration order by name desc limit 1`.execute(trx)).rows[0]?.name ?? null;
      const select =
        opts.format === "jsonl"
          ? sql`select r.project_id, r.raw::text as line`
          : sql`select r.project_id, r.request_id, ${ts("r.created")} as created, r.path, r.endpoint, r.api_key_id, r.accessor,
              r.deployment, r.method, r.code::text, r.status, ${ts("r.completed")} as completed, r.duration_seconds::text,
              r.total_audio_seconds::text, r.usd::text, r.channels::text, r.streams::text, array_to_json(r.models)::text as models,
              array_to_json(r.tags)::text as tags, array_to_json(r.features)::text as features, r.callback_code::text,
              r.content_hash, ${ts("r.first_archived_at")} as first_archived_at, ${ts("r.last_changed_at")} as last_changed_at`;
      await sql`
        declare export_rows no scroll cursor for
        ${select}
        from deepgram_archive.requests r
        where r.created >= ${opts.since} and r.created < ${opts.until}
          and (${opts.projectIds === null}::boolean or r.project_id in (select jsonb_array_elements_text(${projects}::jsonb)))
        order by r.created, r.project_id, r.request_id collate "C"`.execute(trx);
      if (opts.format === "csv") await write(csvRecord([...CSV_COLUMNS]));
      for (;;) {
        const batch = await sql<Record<string, string | null>>`fetch forward ${sql.raw(String(Math.max(1, Math.floor(opts.batchRows ?? BATCH_ROWS))))} from export_rows`.execute(trx);
        if (batch.rows.length === 0) break;
        let chunk = "";
        for (const row of batch.rows) {
          chunk += opts.format === "jsonl" ? `${row.line}\n` : csvRecord(CSV_COLUMNS.map((c) => row[c] ?? null));
          const p = row.project_id!;
          rowsByProject[p] = (rowsByProject[p] ?? 0) + 1;
        }
        rows += batch.rows.length;
        await write(chunk);
      }
      await sql`close export_rows`.execute(trx);
    });
    stream.end();
    await once(stream, "finish");
    await rename(tmp, opts.out);
  } catch (err) {
    stream.destroy();
    await rm(tmp, { force: true });
    throw err;
  }

  const manifest: ExportManifest = {
    file: basename(opts.out),
    format: opts.format,
    rows,
    bytes,
    sha256: hash.digest("hex"),
    range: { since: opts.since.toISOString(), until: opts.until.toISOString(), given: opts.given, timezone: opts.timezone },
    projects: Object.keys(rowsByProject).sort(),
    rowsByProject: Object.fromEntries(Object.entries(rowsByProject).sort(([a], [b]) => a.localeCompare(b))),
    projectFilter: opts.projectIds ? [...opts.projectIds] : null,
    schemaVersion,
    exportedAt: opts.now.toISOString(),
    order: "created, project_id, request_id",
    ...(opts.format === "csv" ? { columns: CSV_COLUMNS } : {}),
    notes:
      opts.format === "jsonl"
        ? "One archived item per line, exactly as stored (deepgram_archive.requests.raw::text); the sha256 of a line is that row's content_hash."
        : "RFC 4180 CSV with a header; times in UTC (ISO 8601), arrays as JSON, empty field = SQL NULL, \"\" = empty text.",
  };
  await writeFile(manifestPath(opts.out), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

export interface ExportCheck {
  ok: boolean;
  file: string;
  manifest: string;
  expected: { rows: number; bytes: number; sha256: string } | null;
  actual: { rows: number; bytes: number; sha256: string } | null;
  problems: string[];
}

/** Checks a file against its manifest: byte count, row count and sha256. Needs no database. */
export async function verifyExportFile(file: string): Promise<ExportCheck> {
  const mpath = manifestPath(file);
  const problems: string[] = [];
  let manifest: ExportManifest;
  try {
    manifest = JSON.parse(await readFile(mpath, "utf8")) as ExportManifest;
  } catch (err) {
    return { ok: false, file, manifest: mpath, expected: null, actual: null, problems: [`cannot read the manifest ${mpath}: ${(err as Error).message}`] };
  }
  try {
    await stat(file);
  } catch (err) {
    return { ok: false, file, manifest: mpath, expected: null, actual: null, problems: [`cannot read ${file}: ${(err as Error).message}`] };
  }
  const hash = createHash("sha256");
  let bytes = 0;
  let records = 0;
  let inQuotes = false;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
    for (const byte of buf) {
      if (manifest.format === "csv" && byte === 0x22) inQuotes = !inQuotes;
      else if (byte === 0x0a && !inQuotes) records++;
    }
  }
  const actual = { rows: manifest.format === "csv" ? Math.max(0, records - 1) : records, bytes, sha256: hash.digest("hex") };
  const expected = { rows: manifest.rows, bytes: manifest.bytes, sha256: manifest.sha256 };
  if (actual.sha256 !== expected.sha256) problems.push(`sha256 is ${actual.sha256}; the manifest says ${expected.sha256}`);
  if (actual.bytes !== expected.bytes) problems.push(`${actual.bytes} bytes; the manifest says ${expected.bytes}`);
  if (actual.rows !== expected.rows) problems.push(`${actual.rows} rows; the manifest says ${expected.rows}`);
  if (manifest.file !== basename(file)) problems.push(`the manifest describes ${manifest.file}, not ${basename(file)}`);
  return { ok: problems.length === 0, file, manifest: mpath, expected, actual, problems };
}

/** A timestamptz as ISO 8601 UTC with microseconds, whatever the session's time zone. */
function ts(column: string) {
  return sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
}
