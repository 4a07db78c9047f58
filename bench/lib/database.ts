/** Fresh databases on the benchmark's Postgres server, and the measurements taken inside them. */
import pg from "pg";

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database; `options` is appended to CREATE DATABASE as given (e.g. a locale). */
export async function createDatabase(adminUrl: string, name: string, options = ""): Promise<string> {
  await withAdmin(adminUrl, async (c) => {
    await c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    await c.query(`create database ${pg.escapeIdentifier(name)} ${options}`);
  });
  return databaseUrl(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (c) => c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`));
}

export async function withDatabase<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  return withAdmin(url, fn);
}

export async function serverFacts(adminUrl: string): Promise<Record<string, string>> {
  return withAdmin(adminUrl, async (c) => {
    const out: Record<string, string> = {};
    out.version = (await c.query<{ v: string }>("select version() as v")).rows[0]!.v;
    for (const name of ["shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "wal_level", "fsync", "autovacuum", "jit"]) {
      out[name] = (await c.query<{ v: string }>(`select current_setting('${name}') as v`)).rows[0]!.v;
    }
    // What a database gets without --create-database: its collation orders every text key.
    out.defaultCollation = (await c.query<{ v: string }>("select datcollate as v from pg_database where datname = 'template1'")).rows[0]!.v;
    return out;
  });
}

/** What the archive of one run holds and how long its archiving part took (server clock of the archiver). */
export async function archiveFacts(url: string): Promise<{ rows: number; windows: number; archiveSeconds: number; archiveEnd: Date; dirtyDays: number }> {
  return withDatabase(url, async (c) => {
    const r = await c.query<{ rows: number; windows: number; secs: number; end: Date; dirty: number }>(`
      select (select count(*) from deepgram_archive.requests)::int as rows,
             (select count(*) from deepgram_archive.sync_windows where state = 'complete')::int as windows,
             extract(epoch from b.end - b.started)::float8 as secs, b.end,
             (select count(*) from deepgram_archive.dirty_days)::int as dirty
      from (select (select max(last_fetched_at) from deepgram_archive.sync_windows) as end,
                   (select min(started_at) from deepgram_archive.sync_runs) as started) b`);
    const row = r.rows[0]!;
    return { rows: row.rows, windows: row.windows, archiveSeconds: row.secs, archiveEnd: row.end, dirtyDays: row.dirty };
  });
}

export interface RelationSize {
  name: string;
  kind: string;
  rows: number;
  bytes: number;
}

/** Sizes of the request tables and their indexes (partitions summed per parent index/table). */
export async function storageFacts(url: string): Promise<{ relations: RelationSize[]; requestRows: number; partitions: number }> {
  return withDatabase(url, async (c) => {
    await c.query("analyze deepgram_archive.requests");
    const rows = Number((await c.query<{ n: string }>("select count(*) as n from deepgram_archive.requests")).rows[0]!.n);
    const parts = await c.query<{ relid: string; n: string }>(`
      select c.oid::regclass::text as relid, c.reltuples::bigint as n
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'deepgram_archive.requests'::regclass`);
    const heap = await c.query<{ heap: string; toast: string; total: string }>(`
      select sum(pg_relation_size(c.oid))::bigint as heap,
             sum(coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0))::bigint as toast,
             sum(pg_total_relation_size(c.oid))::bigint as total
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'deepgram_archive.requests'::regclass`);
    const indexes = await c.query<{ name: string; bytes: string }>(`
      select pi.relname as name, sum(pg_relation_size(ci.inhrelid))::bigint as bytes
      from pg_inherits ci
      join pg_class pi on pi.oid = ci.inhparent and pi.relkind = 'I'
      join pg_index x on x.indexrelid = pi.oid and x.indrelid = 'deepgram_archive.requests'::regclass
      group by pi.relname order by pi.relname`);
    const others = await c.query<{ name: string; bytes: string; n: string }>(`
      select c.relname as name, pg_total_relation_size(c.oid)::bigint as bytes, c.reltuples::bigint as n
      from pg_class c join pg_namespace s on s.oid = c.relnamespace
      where s.nspname = 'deepgram_archive' and c.relkind = 'r' and c.relname in ('request_versions', 'sync_windows', 'daily_usage', 'dirty_days', 'vendor_daily_usage')`);
    const h = heap.rows[0]!;
    const relations: RelationSize[] = [
      { name: "requests (heap)", kind: "table", rows, bytes: Number(h.heap) },
      { name: "requests (toast)", kind: "toast", rows, bytes: Number(h.toast) },
      ...indexes.rows.map((i) => ({ name: i.name, kind: "index", rows, bytes: Number(i.bytes) })),
      { name: "requests (total)", kind: "total", rows, bytes: Number(h.total) },
      ...others.rows.map((o) => ({ name: o.name, kind: "table", rows: Number(o.n), bytes: Number(o.bytes) })),
    ];
    return { relations, requestRows: rows, partitions: parts.rows.length };
  });
}

/** The COPY limit's table, as the issue defines it. */
export const COPY_TABLE_DDL = "create table copy_target (request_id text primary key, project_id text, created timestamptz, raw jsonb)";

/** The archive's request table as one run built it: its columns in order, and the months its monthly partitions span. */
export interface ArchiveLayout {
  /** Quoted as identifiers where they need it. */
  columns: string[];
  /** The first day of the first and of the last monthly partition (UTC). */
  from: Date;
  to: Date;
}

export async function archiveLayout(url: string): Promise<ArchiveLayout> {
  return withDatabase(url, async (c) => {
    const columns = await c.query<{ name: string }>(`
      select quote_ident(attname) as name from pg_attribute
      where attrelid = 'deepgram_archive.requests'::regclass and attnum > 0 and not attisdropped order by attnum`);
    const span = await c.query<{ from: Date; to: Date }>(`
      select min(m) as from, max(m) as to
      from (select to_date(substr(c.relname, 10), 'YYYY_MM')::timestamp at time zone 'UTC' as m
            from pg_inherits i join pg_class c on c.oid = i.inhrelid
            where i.inhparent = 'deepgram_archive.requests'::regclass and c.relname ~ '^requests_\\d{4}_\\d{2}$') p`);
    return { columns: columns.rows.map((r) => r.name), ...span.rows[0]! };
  });
}

export async function copyTableBytes(url: string): Promise<number> {
  return withDatabase(url, async (c) => Number((await c.query<{ b: string }>("select pg_total_relation_size('copy_target') as b")).rows[0]!.b));
}

/** Timed statements inside an archive: vacuum, and what partition pruning does to a one-day query. */
export async function maintenanceFacts(url: string, projectId: string, day: string): Promise<Record<string, unknown>> {
  return withDatabase(url, async (c) => {
    const time = async (q: string, params: unknown[] = []) => {
      const t = performance.now();
      const r = await c.query(q, params);
      return { ms: Math.round(performance.now() - t), r };
    };
    const vacuum = await time("vacuum (analyze) deepgram_archive.requests");
    const oneDay = await time(
      `explain (analyze, format json) select count(*), sum(usd) from deepgram_archive.requests
       where project_id = $1 and created >= $2::date and created < $2::date + 1`,
      [projectId, day],
    );
    const plan = JSON.stringify(oneDay.r.rows[0]);
    const scanned = [...new Set([...plan.matchAll(/"Relation Name":"(requests_[^"]+)"/g)].map((m) => m[1]))];
    const exec = (oneDay.r.rows[0] as { "QUERY PLAN": Array<{ "Execution Time": number }> })["QUERY PLAN"][0]!["Execution Time"];
    const byKey = await time(`select raw from deepgram_archive.requests where project_id = $1 and request_id = (select request_id from deepgram_archive.requests limit 1)`, [projectId]);
    return { vacuumAnalyzeMs: vacuum.ms, oneDayQuery: { partitionsScanned: scanned, executionMs: exec }, lookupByRequestIdWithoutCreatedMs: byKey.ms };
  });
}
