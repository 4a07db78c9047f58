import pg from "pg";
import type { ArchiveDatabase, RawQueryResult } from "../db/connection.js";
import { ConfigError } from "../errors.js";

export type SqlFormat = "table" | "json" | "csv";

/** Postgres refused the query (syntax, a missing column, a write in the read-only transaction): exit 1. */
export class SqlQueryError extends Error {
  override readonly name = "SqlQueryError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The flags of `sql`, checked together: exit 2 on a problem. */
export function parseSqlArgs(query: string | undefined, opts: { json?: boolean; csv?: boolean }): { query: string; format: SqlFormat } {
  const problems: string[] = [];
  const text = (query ?? "").trim().replace(/;\s*$/, "");
  if (text === "") problems.push('sql needs one query, e.g. deepgram-archiver sql "select count(*) from deepgram_archive.requests"');
  if (opts.json && opts.csv) problems.push("choose one of --json and --csv");
  if (problems.length) throw new ConfigError(problems);
  return { query: text, format: opts.json ? "json" : opts.csv ? "csv" : "table" };
}

/**
 * Runs one statement in a read-only transaction that is rolled back afterwards, so `sql` can
 * read anything and change nothing, on either engine. Values come back as Postgres's text.
 */
export async function runReadOnlyQuery(database: ArchiveDatabase, query: string): Promise<RawQueryResult> {
  try {
    return await database.queryRaw(query, { readOnly: true });
  } catch (err) {
    throw new SqlQueryError(describePostgresError(err), { cause: err });
  }
}

function describePostgresError(err: unknown): string {
  const e = err as { message?: string; hint?: string; detail?: string; position?: string };
  const parts = [e.message ?? String(err)];
  if (e.detail) parts.push(`detail: ${e.detail}`);
  if (e.hint) parts.push(`hint: ${e.hint}`);
  if (e.position) parts.push(`at character ${e.position} of the query`);
  return parts.join("\n");
}

export function formatResult(result: RawQueryResult, format: SqlFormat): string {
  if (format === "csv") return formatCsv(result);
  if (format === "json") return JSON.stringify(toObjects(result), null, 2) + "\n";
  const aligned = formatTable(
    result.fields.map((f) => f.name),
    result.rows.map((r) => r.map((v) => v ?? "")),
    result.fields.map((f) => NUMERIC_OIDS.has(f.dataTypeID)),
  );
  return `${aligned}(${result.rows.length} ${result.rows.length === 1 ? "row" : "rows"})\n`;
}

const NUMERIC_OIDS = new Set<number>([20, 21, 23, 26, 700, 701, 1700, 790]);

/**
 * Rows as JSON objects typed the way the pg driver types them (int4 a number, int8 and numeric
 * strings so no digit is lost, json as JSON, arrays as arrays), the same on both engines.
 * A column name seen twice gets a suffix rather than silently replacing the first.
 */
export function toObjects(result: RawQueryResult): Array<Record<string, unknown>> {
  const names: string[] = [];
  const seen = new Map<string, number>();
  for (const f of result.fields) {
    const n = (seen.get(f.name) ?? 0) + 1;
    seen.set(f.name, n);
    names.push(n === 1 ? f.name : `${f.name}_${n}`);
  }
  const parsers = result.fields.map((f) => pg.types.getTypeParser(f.dataTypeID as never, "text") as (v: string) => unknown);
  return result.rows.map((row) => Object.fromEntries(row.map((v, i) => [names[i]!, v === null ? null : parsers[i]!(v)])));
}

/** RFC 4180: a header line, fields quoted when they hold a comma, quote or line break; NULL is empty. */
export function formatCsv(result: RawQueryResult): string {
  const field = (v: string | null) => (v === null ? "" : /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = [result.fields.map((f) => field(f.name)).join(","), ...result.rows.map((r) => r.map(field).join(","))];
  return lines.join("\r\n") + "\r\n";
}

/** A psql-style aligned table: header, rule, rows; numbers right-aligned; line breaks shown as \n. */
export function formatTable(columns: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const clean = (s: string) => s.replace(/\r?\n/g, "\\n").replace(/\t/g, " ");
  const body = rows.map((r) => r.map(clean));
  const widths = columns.map((c, i) => Math.max(displayWidth(c), ...body.map((r) => displayWidth(r[i] ?? ""))));
  const fill = (s: string, i: number) => " ".repeat(Math.max(0, widths[i]! - displayWidth(s)));
  const pad = (s: string, i: number) => (rightAlign[i] ? fill(s, i) + s : s + fill(s, i));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, i)).join(" | ").trimEnd();
  const centred = columns.map((c, i) => " ".repeat(Math.floor((widths[i]! - displayWidth(c)) / 2)) + c);
  const out = [line(centred), widths.map((w) => "-".repeat(w)).join("-+-")];
  for (const r of body) out.push(line(r));
  return out.join("\n") + "\n";
}

/** Terminal columns a string takes: East Asian wide and emoji count 2, combining marks 0. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (/\p{Mn}|\p{Me}|\p{Cf}/u.test(ch)) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}
