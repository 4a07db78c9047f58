/**
 * `npm run bench`: how close the archiver's write path gets to Postgres's own COPY limit, in how
 * much memory, and what the rest of a pass costs. See bench/README.md for what each figure means.
 *
 *   node --import tsx bench/run.ts [--records 300000] [--big-records 1000000] [--runs 3]
 *     [--sections backfill,latency,big] [--cli dist/src/cli.js] [--server cached|simulator]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { startPageServer, type PageServer } from "./lib/server.js";
import { machineCpu, runChild, sampleBackends } from "./lib/processes.js";
import {
  COPY_TABLE_DDL,
  archiveFacts,
  archiveLayout,
  copyTableBytes,
  createDatabase,
  dropDatabase,
  withAdmin,
  maintenanceFacts,
  serverFacts,
  storageFacts,
  withDatabase,
} from "./lib/database.js";
import { median, summarizeResults } from "./lib/report.js";

const { values: opt } = parseArgs({
  options: {
    records: { type: "string", default: "300000" },
    "big-records": { type: "string", default: "1000000" },
    days: { type: "string", default: "90" },
    runs: { type: "string", default: "3" },
    concurrency: { type: "string", default: "4" },
    window: { type: "string", default: "1h" },
    "latency-ms": { type: "string", default: "150" },
    "latency-days": { type: "string", default: "90" },
    "latency-concurrency": { type: "string", default: "1,4,8" },
    sections: { type: "string", default: "backfill,latency,big" },
    server: { type: "string", default: "cached" },
    cli: { type: "string", default: "dist/src/cli.js" },
    // As the image runs it (Dockerfile: NODE_OPTIONS).
    "node-arg": { type: "string", multiple: true, default: ["--max-semi-space-size=32"] },
    "admin-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    // SQL appended to every CREATE DATABASE, e.g. a collation as operators' databases have:
    // "locale_provider icu icu_locale 'en-US' template template0".
    "create-database": { type: "string", default: "" },
    out: { type: "string" },
    note: { type: "string", default: "" },
  },
});

const API_KEY = "bench-key-0d9a";
const adminUrl = opt["admin-url"]!;
const runs = Number(opt.runs);
const sections = new Set(opt.sections!.split(","));
const cli = resolve(opt.cli!);
const tmp = resolve("bench/tmp");
mkdirSync(tmp, { recursive: true });
const tag = `bench_${process.pid}`;
/** A fresh database named `name`, with --create-database's options. */
const freshDatabase = (name: string) => createDatabase(adminUrl, name, opt["create-database"]);
/** A module of the build under test (`--cli`'s `dist/src`), so the benchmark runs that build's code. */
const fromBuild = <T>(path: string): Promise<T> => import(pathToFileURL(join(dirname(cli), path)).href) as Promise<T>;
const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface SyncRun {
  rows: number;
  pages: number;
  windows: number;
  archiveSeconds: number;
  rowsPerSecond: number;
  passSeconds: number;
  processSeconds: number;
  peakRssMb: number | null;
  archiverCpuSeconds: number | null;
  postgresCpuSeconds: number;
  /** Postgres CPU up to the last window's commit: the archiving part's. */
  postgresArchiveCpuSeconds: number;
  /** postgresArchiveCpuSeconds per row inserted, in µs. */
  postgresUsPerRow: number;
  serverCpuSeconds: number;
  machineBusy: number;
  outcome: string;
}

/**
 * Each measured write starts from a checkpoint, so neither the archiver nor COPY pays for the
 * other's dirty pages being flushed.
 */
async function checkpoint(): Promise<void> {
  await withAdmin(adminUrl, (c) => c.query("checkpoint"));
}

/** One `deepgram-archiver sync` as a child process against `dbUrl`, measured. */
async function runSync(server: PageServer, dbName: string, dbUrl: string, env: Record<string, string>, extraArgs: string[] = []): Promise<SyncRun> {
  await checkpoint();
  const before = await server.stats();
  const sampler = sampleBackends(adminUrl, dbName);
  const m0 = machineCpu();
  const r = await runChild(process.execPath, [...opt["node-arg"]!, cli, "sync", "--json", ...extraArgs], {
    measure: true,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: dbUrl,
      DEEPGRAM_BASE_URL: server.url,
      DEEPGRAM_API_KEY: API_KEY,
      ARCHIVER_WINDOW: opt.window!,
      ARCHIVER_CONCURRENCY: opt.concurrency!,
      ARCHIVER_TIMEZONE: "UTC",
      LOG_LEVEL: "warn",
      ...env,
    },
  });
  const m1 = machineCpu();
  const postgres = await sampler.stop();
  const after = await server.stats();
  if (r.code !== 0 && r.code !== 1) throw new Error(`sync exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const report = JSON.parse(r.stdout) as { outcome: string; startedAt: string; finishedAt: string; projects: Array<{ pages: number; inserted: number }> };
  if (report.outcome !== "succeeded") log(`sync outcome ${report.outcome}: ${r.stderr.slice(-500)}`);
  const facts = await archiveFacts(dbUrl);
  const inserted = report.projects.reduce((a, p) => a + p.inserted, 0);
  const postgresArchiveCpuSeconds = postgres.until(facts.archiveEnd.getTime());
  return {
    rows: inserted,
    pages: report.projects.reduce((a, p) => a + p.pages, 0),
    windows: facts.windows,
    archiveSeconds: facts.archiveSeconds,
    rowsPerSecond: inserted / facts.archiveSeconds,
    passSeconds: (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000,
    processSeconds: r.wallMs / 1000,
    peakRssMb: r.peakRssMb,
    archiverCpuSeconds: r.cpuUserS === null ? null : r.cpuUserS + r.cpuSysS!,
    postgresCpuSeconds: postgres.total,
    postgresArchiveCpuSeconds,
    postgresUsPerRow: inserted > 0 ? (postgresArchiveCpuSeconds / inserted) * 1e6 : 0,
    serverCpuSeconds: (after.cpuMs - before.cpuMs) / 1000,
    machineBusy: (m1.busy - m0.busy) / (m1.total - m0.total),
    outcome: report.outcome,
  };
}

/** COPY of the dumped rows into the keyed jsonb table, through `psql \copy`, in a fresh database. */
async function runCopy(
  file: string,
  rows: number,
): Promise<{ rows: number; seconds: number; rowsPerSecond: number; postgresCpuSeconds: number; postgresUsPerRow: number; tableBytes: number }> {
  const name = `${tag}_copy`;
  const url = await freshDatabase(name);
  try {
    await withDatabase(url, (c) => c.query(COPY_TABLE_DDL));
    await checkpoint();
    const sampler = sampleBackends(adminUrl, name);
    const r = await runChild("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", `\\copy copy_target from '${file}'`]);
    const postgresCpuSeconds = (await sampler.stop()).total;
    if (r.code !== 0) throw new Error(`psql \\copy failed: ${r.stderr}`);
    const tableBytes = await copyTableBytes(url);
    const postgresUsPerRow = (postgresCpuSeconds / rows) * 1e6;
    return { rows, seconds: r.wallMs / 1000, rowsPerSecond: rows / (r.wallMs / 1000), postgresCpuSeconds, postgresUsPerRow, tableBytes };
  } finally {
    await dropDatabase(adminUrl, name);
  }
}

/**
 * A reference beside the COPY limit: the rows one backfill archived, exported from its archive and
 * loaded by `psql \copy` into the archive's own table (the same migrations, partitions, indexes
 * and guard triggers) in a fresh database, every column precomputed. What Postgres alone costs to
 * store the archive's rows, without deriving the typed columns or the content hash, on one backend.
 */
async function runSchemaCopy(archiveUrl: string): Promise<{ rows: number; seconds: number; rowsPerSecond: number; postgresUsPerRow: number }> {
  const layout = await archiveLayout(archiveUrl);
  const columns = layout.columns.join(", ");
  const file = join(tmp, `archive-rows-${process.pid}.tsv`);
  const name = `${tag}_schema_copy`;
  try {
    // Not quiet: psql prints "COPY <rows>", the count loaded below.
    const exported = await runChild("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-d", archiveUrl, "-c", `\\copy (select ${columns} from deepgram_archive.requests) to '${file}'`]);
    const rows = Number(/^COPY (\d+)$/m.exec(exported.stdout)?.[1] ?? NaN);
    if (exported.code !== 0 || !(rows > 0)) throw new Error(`psql \\copy of the archive failed: ${exported.stderr || exported.stdout}`);
    const url = await freshDatabase(name);
    // The build's schema, and the monthly partitions the rows need (migrations make only the default one), by its own code.
    const { openPostgres } = await fromBuild<typeof import("../src/db/connection.js")>("db/connection.js");
    const { migrateToLatest } = await fromBuild<typeof import("../src/db/migrator.js")>("db/migrator.js");
    const { ensureMonthlyPartitions } = await fromBuild<typeof import("../src/archive/partitions.js")>("archive/partitions.js");
    const { silentLogger } = await fromBuild<typeof import("../src/logger.js")>("logger.js");
    const logger = silentLogger();
    const database = await openPostgres({ url, target: "bench", logger });
    try {
      await migrateToLatest(database.db);
      await ensureMonthlyPartitions(database.db, layout.from, layout.to, logger);
    } finally {
      await database.close();
    }
    await checkpoint();
    const sampler = sampleBackends(adminUrl, name);
    // As the archiver's transactions declare themselves, so the guard triggers let the rows in.
    const r = await runChild("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", `\\copy deepgram_archive.requests (${columns}) from '${file}'`], {
      env: { ...process.env, PGOPTIONS: "-c deepgram_archive.writer=archiver" },
    });
    const postgresCpuSeconds = (await sampler.stop()).total;
    if (r.code !== 0) throw new Error(`psql \\copy into the archive's table failed: ${r.stderr}`);
    return { rows, seconds: r.wallMs / 1000, rowsPerSecond: rows / (r.wallMs / 1000), postgresUsPerRow: (postgresCpuSeconds / rows) * 1e6 };
  } finally {
    rmSync(file, { force: true });
    await dropDatabase(adminUrl, name);
  }
}

async function withServer<T>(records: number, fn: (s: PageServer) => Promise<T>): Promise<T> {
  log(`starting the page server (${opt.server}, ${records} records over ${opt.days} days)`);
  const server = await startPageServer({ mode: opt.server as "cached" | "simulator", apiKey: API_KEY, records, days: Number(opt.days), projects: 1, seed: 1, latencyMs: 0 });
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** Backfill + COPY + nothing-new pass, `runs` times, at `records`; the last archive is kept for `keep`. */
async function backfillSuite(server: PageServer, records: number, keep?: (dbUrl: string, dbName: string) => Promise<Record<string, unknown>>) {
  const file = join(tmp, `copy-${records}.tsv`);
  const dumped = await server.dump(file);
  const out: Array<{ sync: SyncRun; copy: Awaited<ReturnType<typeof runCopy>>; nothingNew: SyncRun; schemaCopy: Awaited<ReturnType<typeof runSchemaCopy>> }> = [];
  let kept: Record<string, unknown> | null = null;
  try {
    for (let i = 0; i < runs; i++) {
      const name = `${tag}_archive`;
      const url = await freshDatabase(name);
      try {
        log(`${records}: backfill ${i + 1}/${runs}`);
        const sync = await runSync(server, name, url, {});
        log(`  ${sync.rows} rows in ${sync.archiveSeconds.toFixed(2)} s = ${Math.round(sync.rowsPerSecond)} rows/s, pass ${sync.passSeconds.toFixed(1)} s, RSS ${sync.peakRssMb?.toFixed(0)} MB, archiver CPU ${sync.archiverCpuSeconds?.toFixed(1)} s, postgres CPU ${sync.postgresCpuSeconds.toFixed(1)} s (archiving ${sync.postgresUsPerRow.toFixed(1)} µs a row), server CPU ${sync.serverCpuSeconds.toFixed(1)} s, machine busy ${(100 * sync.machineBusy).toFixed(0)}%`);
        const copy = await runCopy(file, dumped);
        log(`  COPY ${copy.rows} rows in ${copy.seconds.toFixed(2)} s = ${Math.round(copy.rowsPerSecond)} rows/s (ratio ${(sync.rowsPerSecond / copy.rowsPerSecond).toFixed(2)}), postgres ${copy.postgresUsPerRow.toFixed(1)} µs a row`);
        const nothingNew = await runSync(server, name, url, {});
        log(`  nothing new: ${nothingNew.pages} pages, pass ${nothingNew.passSeconds.toFixed(2)} s, process ${nothingNew.processSeconds.toFixed(2)} s`);
        // The kept archive is studied first, so its timings follow the same writes as before this reference existed.
        if (keep && i === runs - 1) kept = await keep(url, name);
        const schemaCopy = await runSchemaCopy(url);
        log(`  COPY into the archive's table: ${schemaCopy.rows} rows in ${schemaCopy.seconds.toFixed(2)} s = ${Math.round(schemaCopy.rowsPerSecond)} rows/s (backfill ${(sync.rowsPerSecond / schemaCopy.rowsPerSecond).toFixed(2)} of it), postgres ${schemaCopy.postgresUsPerRow.toFixed(1)} µs a row`);
        out.push({ sync, copy, nothingNew, schemaCopy });
      } finally {
        await dropDatabase(adminUrl, name);
      }
    }
  } finally {
    rmSync(file, { force: true });
  }
  const ratios = out.map((o) => o.sync.rowsPerSecond / o.copy.rowsPerSecond);
  return {
    records,
    visible: server.visible,
    runs: out,
    median: {
      backfillRowsPerSecond: median(out.map((o) => o.sync.rowsPerSecond)),
      copyRowsPerSecond: median(out.map((o) => o.copy.rowsPerSecond)),
      ratio: median(ratios),
      postgresUsPerRow: median(out.map((o) => o.sync.postgresUsPerRow)),
      copyPostgresUsPerRow: median(out.map((o) => o.copy.postgresUsPerRow)),
      schemaCopyRowsPerSecond: median(out.map((o) => o.schemaCopy.rowsPerSecond)),
      schemaCopyPostgresUsPerRow: median(out.map((o) => o.schemaCopy.postgresUsPerRow)),
      ratioToSchemaCopy: median(out.map((o) => o.sync.rowsPerSecond / o.schemaCopy.rowsPerSecond)),
      peakRssMb: median(out.map((o) => o.sync.peakRssMb ?? NaN)),
      pages: median(out.map((o) => o.sync.pages)),
      backfillPassSeconds: median(out.map((o) => o.sync.passSeconds)),
      nothingNewPassSeconds: median(out.map((o) => o.nothingNew.passSeconds)),
      nothingNewProcessSeconds: median(out.map((o) => o.nothingNew.processSeconds)),
      nothingNewPages: median(out.map((o) => o.nothingNew.pages)),
    },
    kept,
  };
}

/** Summarizer timings, storage sizes and maintenance on a kept archive (the library, in this process). */
async function archiveStudy(dbUrl: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const { openPostgres } = await fromBuild<typeof import("../src/db/connection.js")>("db/connection.js");
  const { silentLogger } = await fromBuild<typeof import("../src/logger.js")>("logger.js");
  type Summarize = (db: unknown, o: Record<string, unknown>) => Promise<{ days: number; daysChanged: number }>;
  let summarize: Summarize | null = null;
  try {
    summarize = (await fromBuild<{ summarize: Summarize }>("summary/summarizer.js")).summarize;
  } catch (err) {
    out.summarizer = `not available in this build (${(err as Error).message.split("\n")[0]})`;
  }
  const database = await openPostgres({ url: dbUrl, target: "bench", logger: silentLogger() });
  try {
    const info = await withDatabase(dbUrl, async (c) => {
      const r = await c.query<{ project_id: string; day: string; n: number }>(`
        select project_id, (created at time zone 'UTC')::date::text as day, count(*)::int as n from deepgram_archive.requests
        group by 1, 2 order by 3 desc limit 1`);
      return r.rows[0]!;
    });
    if (summarize) {
      const rebuild: number[] = [];
      const dirty: number[] = [];
      let days = 0;
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        // As `deepgram-archiver summarize --rebuild` runs it: days at once = ARCHIVER_CONCURRENCY.
        const r = await summarize(database.db, { timezone: "UTC", now: new Date(), rebuild: true, concurrency: Number(opt.concurrency) });
        rebuild.push((performance.now() - t) / 1000);
        days = r.days;
        await withDatabase(dbUrl, (c) => c.query("insert into deepgram_archive.dirty_days (project_id, day) values ($1, $2) on conflict do nothing", [info.project_id, info.day]));
        const t2 = performance.now();
        const d = await summarize(database.db, { timezone: "UTC", now: new Date(), concurrency: Number(opt.concurrency) });
        dirty.push((performance.now() - t2) / 1000);
        if (d.days !== 1) log(`  dirty-day drain summarized ${d.days} days, expected 1`);
      }
      out.summarizer = { rebuildSeconds: rebuild, rebuildDays: days, dirtyDaySeconds: dirty, dirtyDayRows: info.n, median: { rebuildSeconds: median(rebuild), dirtyDaySeconds: median(dirty) } };
      log(`  summarizer: rebuild ${median(rebuild).toFixed(2)} s (${days} days), one dirty day (${info.n} rows) ${(1000 * median(dirty)).toFixed(0)} ms`);
    }
  } finally {
    await database.close();
  }
  const info = await withDatabase(dbUrl, async (c) => (await c.query<{ p: string; d: string }>("select project_id as p, min(created)::date::text as d from deepgram_archive.requests group by 1 limit 1")).rows[0]!);
  out.storage = await storageFacts(dbUrl);
  out.maintenance = await maintenanceFacts(dbUrl, info.p, info.d);
  return out;
}

/**
 * With `latency-ms` per page: backfill of the last `latency-days` days (explicit range) at each
 * concurrency. The concurrencies take turns within each round, so a machine that speeds up or slows
 * down during the suite (a shared VM) moves all of them alike, not the ones measured last.
 */
async function latencySuite(server: PageServer) {
  await server.setLatency(Number(opt["latency-ms"]));
  const since = new Date(Date.now() - Number(opt["latency-days"]) * 86_400_000).toISOString();
  const concurrencies = opt["latency-concurrency"]!.split(",");
  const results: Record<string, SyncRun[]> = Object.fromEntries(concurrencies.map((c) => [c, []]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const c of concurrencies) {
        const name = `${tag}_latency`;
        const url = await freshDatabase(name);
        try {
          const r = await runSync(server, name, url, { ARCHIVER_CONCURRENCY: c }, ["--since", since]);
          log(`latency ${opt["latency-ms"]} ms, concurrency ${c}: ${r.rows} rows, ${r.pages} pages in ${r.archiveSeconds.toFixed(1)} s = ${Math.round(r.rowsPerSecond)} rows/s`);
          results[c]!.push(r);
        } finally {
          await dropDatabase(adminUrl, name);
        }
      }
    }
  } finally {
    await server.setLatency(0);
  }
  const med = Object.fromEntries(Object.entries(results).map(([c, rs]) => [c, median(rs.map((r) => r.rowsPerSecond))]));
  const first = concurrencies[0]!;
  // Each concurrency against the first, round by round (the goal compares the medians).
  const ratiosByRound = Object.fromEntries(concurrencies.slice(1).map((c) => [`${c}/${first}`, results[c]!.map((r, i) => r.rowsPerSecond / results[first]![i]!.rowsPerSecond)]));
  return { latencyMs: Number(opt["latency-ms"]), days: Number(opt["latency-days"]), runs: results, medianRowsPerSecond: med, ratiosByRound };
}

async function main(): Promise<void> {
  const started = new Date();
  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: await serverFacts(adminUrl),
    loadAverageAtStart: loadavg(),
  };
  log(`machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memoryGb} GB, Node ${machine.node}, ${machine.postgres.version!.split(" on ")[0]}; load ${machine.loadAverageAtStart.map((l) => l.toFixed(1)).join(" ")}`);
  const records = Number(opt.records);
  const bigRecords = Number(opt["big-records"]);
  const result: Record<string, unknown> = {
    date: started.toISOString(),
    note: opt.note,
    machine,
    commit: gitDescribe(),
    settings: { records, bigRecords, days: Number(opt.days), runs, window: opt.window, concurrency: Number(opt.concurrency), server: opt.server, cli: opt.cli, nodeArgs: opt["node-arg"], createDatabase: opt["create-database"] },
  };
  if (sections.has("backfill") || sections.has("latency")) {
    await withServer(records, async (server) => {
      if (sections.has("backfill")) result.backfill = await backfillSuite(server, records);
      if (sections.has("latency")) result.latency = await latencySuite(server);
    });
  }
  if (sections.has("big")) {
    result.big = await withServer(bigRecords, (server) => backfillSuite(server, bigRecords, (url) => archiveStudy(url)));
  }
  (result.machine as Record<string, unknown>).loadAverageAtEnd = loadavg();
  result.finished = new Date().toISOString();
  result.goals = summarizeResults(result);
  const file = opt.out ?? join("bench/results", `${started.toISOString().slice(0, 10)}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
  process.stdout.write(JSON.stringify(result.goals, null, 2) + "\n");
  log(`results written to ${file}`);
}

/** The commit measured, with "+changes" when the tree differs from it. */
function gitDescribe(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "migrations"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${head}+changes` : head;
  } catch {
    return "unknown";
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
