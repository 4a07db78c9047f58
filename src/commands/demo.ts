import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { sql, type Kysely } from "kysely";
import { DateTime } from "luxon";
import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { ConfigError } from "../errors.js";
import { createDeepgramClient } from "../deepgram/index.js";
import { lockDataDir, LOCK_FILE, type DataDirLock } from "../db/data-dir-lock.js";
import { openPglite } from "../db/pglite.js";
import { migrateToLatest } from "../db/migrator.js";
import type { Database } from "../db/schema.js";
import type { FaultKind } from "../simulator/index.js";
import { runSync, type SyncSettings } from "../sync/engine.js";
import type { SyncEvent, SyncReport } from "../sync/report.js";
import { formatStatus, getStatus, type StatusReport } from "./status.js";
import { formatTable } from "./sql.js";
import { startDemoSimulator } from "./demo-simulator.js";

/** The demo's own settings: a realistic account, sized to finish in about a minute. */
export interface DemoOptions {
  /** ARCHIVER_DATA_DIR; the demo's database goes to its `demo` folder, replaced on each run. */
  dataDir: string;
  timezone: string;
  projects?: number;
  days?: number;
  perDay?: number;
  faultRate?: number;
  seed?: number;
  /** Serve the simulator from a worker thread (default) or inline on `deps.clock` (tests). */
  simulatorThread?: boolean;
}

export const DEMO_DEFAULTS = { projects: 2, days: 120, perDay: 1500, faultRate: 0.02, seed: 42 } as const;

/**
 * Day-wide windows: each is one or two full pages, so the pass makes few round trips and
 * commits. Freshness does not matter here; a real deployment keeps ARCHIVER_WINDOW (1h default).
 */
const DEMO_WINDOW_MS = 24 * 3_600_000;
const DEMO_CONCURRENCY = 4;
/** Faults whose retries cost milliseconds, not the seconds a Retry-After or a stall would. */
const DEMO_FAULTS: FaultKind[] = ["429-bare", "500", "502", "503", "reset", "truncated"];
const MARKER_FILE = "DEMO-DATABASE.txt";

export type DemoStage = "simulator" | "database" | "archive" | "finish" | "report" | "close";

export interface DemoDeps {
  logger: Logger;
  clock: Clock;
  onEvent?: (e: SyncEvent) => void;
  onStage?: (stage: DemoStage) => void;
}

export interface TopKey {
  projectName: string | null;
  apiKeyId: string;
  comment: string | null;
  requests: number;
  hours: number;
  usd: string;
}

export interface ReconciledProject {
  projectId: string;
  name: string | null;
  counts: Record<"ok" | "mismatch" | "partial" | "no_vendor_data", number>;
  /** Runs of consecutive days per status other than ok, e.g. partial 2026-07-29..2026-08-27. */
  runs: Array<{ status: string; from: string; to: string; days: number }>;
}

export interface DemoReport {
  dataDir: string;
  simulator: { projects: number; days: number; perDay: number; faultRate: number; records: number; visible: number; faultsInjected: number; httpRequests: number };
  sync: SyncReport;
  retries: number;
  rows: number;
  windows: number;
  /** Wall-clock seconds per stage and in total. */
  seconds: { simulator: number; database: number; archive: number; finish: number; report: number; close: number; total: number };
  status: StatusReport;
  topKeys: TopKey[];
  reconciliation: ReconciledProject[];
  horizonDay: string;
  /** Today's UTC day. */
  today: string;
  examples: Array<{ title: string; query: string }>;
}

/** What a person sees on a TTY while each stage runs (the archive stage shows a progress bar). */
export const DEMO_STAGE_TEXT: Record<Exclude<DemoStage, "archive">, string> = {
  simulator: "Starting a simulated Deepgram API on a loopback port...",
  database: "Creating a fresh embedded database...",
  finish: "Fetching Deepgram's daily usage and key names, reconciling, building daily rollups, sealing old days...",
  report: "Writing the report...",
  close: "Closing the database (Postgres writes its checkpoint to disk)...",
};

/** The flags of `demo`, checked together: exit 2 on a problem. */
export function parseDemoArgs(opts: Record<string, string>): { days: number; perDay: number; projects: number; faultRate: number; seed: number } {
  const problems: string[] = [];
  const int = (name: string, flag: string, min: number, max: number) => {
    const n = Number(opts[name]);
    if (!/^\d+$/.test(opts[name] ?? "") || n < min || n > max) problems.push(`--${flag} must be a whole number from ${min} to ${max}; got ${opts[name]}.`);
    return n;
  };
  const days = int("days", "days", 1, 400);
  const perDay = int("perDay", "per-day", 1, 100_000);
  const projects = int("projects", "projects", 1, 20);
  const seed = int("seed", "seed", 0, 2 ** 31);
  const faultRate = Number(opts.faults);
  if (!(faultRate >= 0 && faultRate <= 0.5)) problems.push(`--faults must be a number from 0 to 0.5; got ${opts.faults}.`);
  if (problems.length) throw new ConfigError(problems);
  return { days, perDay, projects, faultRate, seed };
}

/**
 * `demo`: a simulated Deepgram account on a loopback port, archived by one real pass (requests,
 * Deepgram's daily usage and key names, reconciliation, rollups) into a fresh embedded database
 * under ARCHIVER_DATA_DIR/demo. Returns what happened; the CLI prints it. No key, no server.
 */
export async function runDemo(deps: DemoDeps, options: DemoOptions): Promise<DemoReport> {
  const o = { ...DEMO_DEFAULTS, ...stripUndefined(options), dataDir: options.dataDir, timezone: options.timezone };
  const stage = deps.onStage ?? (() => undefined);
  const wall = () => performance.now();
  const t0 = wall();
  const demoDir = join(o.dataDir, "demo");

  let result: DemoReport;
  let tClose = t0;
  stage("simulator");
  const apiKey = `demo-${randomBytes(12).toString("hex")}`;
  const spec = { apiKey, seed: o.seed, projects: o.projects, days: o.days, perDay: o.perDay, faultRate: o.faultRate, faultKinds: DEMO_FAULTS };
  const sim = await startDemoSimulator(spec, options.simulatorThread === false ? { thread: false, clock: deps.clock } : { thread: true, anchor: deps.clock.now() });
  const tSim = wall();
  try {
    stage("database");
    const lock = prepareDemoDir(demoDir, deps.logger);
    const database = await openPglite({ dataDir: demoDir, logger: deps.logger, lock, command: "deepgram-archiver demo" });
    try {
      await migrateToLatest(database.db);
      const tDb = wall();

      stage("archive");
      let retries = 0;
      let lastWindowAt = tDb;
      const client = createDeepgramClient({
        baseUrl: sim.url,
        apiKey,
        timeoutMs: 10_000,
        minDelayMs: 20,
        maxDelayMs: 500,
        logger: deps.logger,
        clock: deps.clock,
        onEvent: (e) => {
          if (e.type === "retry") retries++;
        },
      });
      const settings: SyncSettings = {
        timezone: o.timezone,
        windowMs: DEMO_WINDOW_MS,
        settleMs: 15 * 60_000,
        rescanMs: 72 * 3_600_000,
        concurrency: DEMO_CONCURRENCY,
        projectIds: null,
        // Deepgram's usage for the simulated history only, not the default year.
        usageSinceDays: o.days + 1,
      };
      let planned = -1;
      let windowsDone = 0;
      const onEvent = (e: SyncEvent) => {
        deps.onEvent?.(e);
        if (e.type === "planned") planned = e.windows;
        if (e.type === "window") lastWindowAt = wall();
        // After its last window the pass fetches usage, reconciles, builds rollups and seals old days.
        if ((e.type === "window" && ++windowsDone === planned) || (e.type === "planned" && e.windows === 0)) stage("finish");
      };
      const report = await runSync({ database, client, clock: deps.clock, logger: deps.logger, settings, onEvent }, { command: "demo" });
      const tPass = wall();

      stage("report");
      const now = deps.clock.now();
      const status = await getStatus(database, deps.clock, settings);
      const topKeys = await topKeysByCost(database.db, now, o.timezone);
      const reconciliation = await reconciliationByProject(database.db);
      const stats = await sim.stats();
      const tReport = wall();
      const secs = (a: number, b: number) => Math.round(b - a) / 1000;
      result = {
        dataDir: demoDir,
        simulator: {
          projects: o.projects,
          days: o.days,
          perDay: o.perDay,
          faultRate: o.faultRate,
          records: sim.records,
          visible: sim.visible,
          faultsInjected: stats.faultsInjected,
          httpRequests: stats.requestsServed,
        },
        sync: report,
        retries,
        rows: status.projects.reduce((a, p) => a + p.rows, 0),
        windows: report.projects.reduce((a, p) => a + p.windowsCompleted, 0),
        seconds: {
          simulator: secs(t0, tSim),
          database: secs(tSim, tDb),
          archive: secs(tDb, lastWindowAt),
          finish: secs(lastWindowAt, tPass),
          report: secs(tPass, tReport),
          close: 0,
          total: 0,
        },
        status,
        topKeys,
        reconciliation,
        horizonDay: DateTime.fromJSDate(new Date(now.getTime() - 90 * 86_400_000), { zone: "utc" }).toISODate()!,
        today: DateTime.fromJSDate(now, { zone: "utc" }).toISODate()!,
        examples: exampleQueries(),
      };
      tClose = tReport;
      stage("close");
    } finally {
      await database.close();
    }
  } finally {
    await sim.stop();
  }
  // Closing writes Postgres's shutdown checkpoint to disk: part of what a person waits for.
  const tEnd = wall();
  result.seconds.close = Math.round(tEnd - tClose) / 1000;
  result.seconds.total = Math.round(tEnd - t0) / 1000;
  return result;
}

/**
 * Locks ARCHIVER_DATA_DIR/demo and empties it. Only a folder the demo made is ever emptied: one
 * holding anything else is refused rather than deleted.
 */
function prepareDemoDir(demoDir: string, logger: Logger): DataDirLock {
  mkdirSync(demoDir, { recursive: true });
  const ours = (e: string) => e === MARKER_FILE || e === "pglite" || e === LOCK_FILE || e.startsWith(`${LOCK_FILE}.`);
  const entries = readdirSync(demoDir);
  if (!entries.includes(MARKER_FILE) && !entries.every(ours)) {
    throw new ConfigError([`${demoDir} exists and was not made by the demo; move it away or set ARCHIVER_DATA_DIR to another folder.`]);
  }
  const lock = lockDataDir(demoDir, { logger, command: "deepgram-archiver demo" });
  try {
    for (const e of readdirSync(demoDir)) {
      if (e === LOCK_FILE) continue;
      rmSync(join(demoDir, e), { recursive: true, force: true });
    }
    writeFileSync(
      join(demoDir, MARKER_FILE),
      "This folder holds the embedded database of `deepgram-archiver demo`; the demo replaces it each time it runs.\n" +
        `Query it with: ARCHIVER_DATA_DIR=${demoDir} npx deepgram-archiver sql "select count(*) from deepgram_archive.requests"\n`,
    );
    return lock;
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** The 5 keys that cost most over the 30 local days before `now`, from the rollups, with their comments. */
async function topKeysByCost(db: Kysely<Database>, now: Date, timezone: string): Promise<TopKey[]> {
  const since = DateTime.fromJSDate(now, { zone: timezone }).minus({ days: 30 }).toISODate()!;
  const rows = await sql<{ project_name: string | null; api_key_id: string; comment: string | null; requests: number; hours: number; usd: string }>`
    select p.name as project_name, u.api_key_id, k.comment, sum(u.requests)::int as requests,
      sum(u.hours)::float8 as hours, sum(u.usd)::numeric(14, 2)::text as usd
    from deepgram_archive.daily_usage u
    join deepgram_archive.projects p on p.project_id = u.project_id
    left join deepgram_archive.api_keys k on k.project_id = u.project_id and k.api_key_id = u.api_key_id
    where u.day > ${since}::date
    group by p.name, u.project_id, u.api_key_id, k.comment
    order by sum(u.usd) desc, sum(u.requests) desc
    limit 5`.execute(db);
  return rows.rows.map((r) => ({ projectName: r.project_name, apiKeyId: r.api_key_id, comment: r.comment, requests: r.requests, hours: r.hours, usd: r.usd }));
}

/** What the pass's reconciliation recorded, per project: counts per status and the runs of days that are not ok. */
async function reconciliationByProject(db: Kysely<Database>): Promise<ReconciledProject[]> {
  const rows = await sql<{ project_id: string; name: string | null; day: string; status: ReconciledProject["runs"][number]["status"] }>`
    select r.project_id, p.name, r.day::text as day, r.status
    from deepgram_archive.reconciliation r left join deepgram_archive.projects p on p.project_id = r.project_id
    order by r.project_id, r.day`.execute(db);
  const out = new Map<string, ReconciledProject>();
  for (const r of rows.rows) {
    let p = out.get(r.project_id);
    if (!p) out.set(r.project_id, (p = { projectId: r.project_id, name: r.name, counts: { ok: 0, mismatch: 0, partial: 0, no_vendor_data: 0 }, runs: [] }));
    p.counts[r.status as keyof ReconciledProject["counts"]]++;
    if (r.status === "ok") continue;
    const last = p.runs[p.runs.length - 1];
    const dayBefore = DateTime.fromISO(r.day, { zone: "utc" }).minus({ days: 1 }).toISODate();
    if (last && last.status === r.status && last.to === dayBefore) {
      last.to = r.day;
      last.days++;
    } else p.runs.push({ status: r.status, from: r.day, to: r.day, days: 1 });
  }
  return [...out.values()];
}

/** Three questions people ask an archive, written against the public schema (see docs/queries.md). */
export function exampleQueries(): Array<{ title: string; query: string }> {
  return [
    {
      title: "cost and hours per key and month, with the key's comment",
      query:
        "select date_trunc('month', u.day)::date as month, k.comment as key, sum(u.requests) as requests, " +
        "round(sum(u.hours)::numeric, 1) as hours, sum(u.usd) as usd " +
        "from deepgram_archive.daily_usage u left join deepgram_archive.api_keys k using (project_id, api_key_id) " +
        "group by 1, 2 order by 1 desc, usd desc limit 12",
    },
    {
      title: "the ten most recent failed requests and Deepgram's message",
      query:
        "select created, code, endpoint, raw->'response'->>'message' as message " +
        "from deepgram_archive.requests where status = 'failed' order by created desc limit 10",
    },
    {
      title: "days the archive does not fully match Deepgram's own usage",
      query:
        "select project_id, day, status, archived_requests, vendor_requests from deepgram_archive.reconciliation " +
        "where status <> 'ok' order by day desc limit 10",
    },
  ];
}

/** `cli` is how a person runs the CLI from where they are. */
export function formatDemoReport(r: DemoReport, cli = "npx deepgram-archiver"): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const s = r.simulator;
  const sec = r.seconds;
  const out: string[] = [];
  out.push(
    `deepgram-archiver demo: a simulated Deepgram account (${s.projects} projects, ${s.days} days, ~${n(s.perDay)} requests a day each,`,
    `${Math.round(s.faultRate * 100)}% of API calls failing on purpose) archived into an embedded Postgres, no key and no server needed.`,
    "",
  );
  const failedWindows = r.sync.projects.reduce((a, p) => a + p.windowsFailed, 0);
  out.push(
    `Pass ${r.sync.outcome}${failedWindows ? ` (${failedWindows} windows failed)` : ""}: ${n(r.rows)} request logs in ${n(r.windows)} windows, ` +
      `${n(s.httpRequests)} API calls, ${n(s.faultsInjected)} injected faults (429, 5xx, resets, cut-off bodies), ${n(r.retries)} retries.`,
    `Deepgram lists ${n(s.visible)} of the ${n(s.records)} simulated logs (it keeps 90 days); every settled one is archived.`,
    `Time ${sec.total.toFixed(1)} s: simulator ${sec.simulator.toFixed(1)} s, new database ${sec.database.toFixed(1)} s, ` +
      `request logs ${sec.archive.toFixed(1)} s (${n(Math.round(r.rows / Math.max(0.001, sec.archive)))} rows/s), ` +
      `usage + reconcile + rollups + seals ${sec.finish.toFixed(1)} s, report ${sec.report.toFixed(1)} s, closing ${sec.close.toFixed(1)} s.`,
  );
  if (r.sync.error) out.push(`Problem: ${r.sync.error}`);
  out.push("", "Status", indent(formatStatus(r.status)));

  out.push("Top 5 keys by cost, last 30 days (from the daily rollups)");
  out.push(
    indent(
      formatTable(
        ["project", "key", "comment", "requests", "hours", "usd"],
        r.topKeys.map((k) => [k.projectName ?? "", k.apiKeyId || "(none)", k.comment ?? "", n(k.requests), k.hours.toFixed(1), k.usd]),
        [false, false, false, true, true, true],
      ),
    ),
  );

  out.push("Reconciliation: archived logs against Deepgram's own daily usage, per UTC day");
  for (const p of r.reconciliation) {
    const c = p.counts;
    out.push(`  ${p.name ?? p.projectId}: ${c.ok} ok, ${c.partial} partial, ${c.mismatch} mismatch, ${c.no_vendor_data} without usage data`);
    for (const run of p.runs) {
      const why =
        run.status === "partial" && run.from <= r.horizonDay
          ? "at or before Deepgram's 90-day horizon: those logs were gone before archiving began"
          : run.status === "partial" && run.to >= r.today
            ? "today: its windows are not settled yet"
            : run.status === "partial"
              ? "not wholly archived yet"
            : run.status === "mismatch"
              ? "archive and Deepgram disagree: fetched again on the next pass"
              : "Deepgram reported no usage";
      out.push(`    ${run.status.padEnd(8)} ${run.from === run.to ? run.from : `${run.from} .. ${run.to}`} (${run.days} ${run.days === 1 ? "day" : "days"}): ${why}`);
    }
  }

  out.push("", `Try a query; the demo's database is in ${r.dataDir}:`);
  for (const e of r.examples) out.push(`  # ${e.title}`, `  ARCHIVER_DATA_DIR=${shellQuote(r.dataDir)} ${cli} sql ${shellQuote(e.query)}`, "");
  out.push(`  Add --csv or --json for machine-readable output. Every table is in schema deepgram_archive:`);
  out.push(`  ARCHIVER_DATA_DIR=${shellQuote(r.dataDir)} ${cli} sql "select table_name from information_schema.tables where table_schema = 'deepgram_archive' order by 1"`);
  return out.join("\n") + "\n";
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => (l ? `  ${l}` : l))
    .join("\n");
}

/** For a POSIX shell: bare when safe, else double quotes (the queries use single quotes inside). */
function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./:=@-]+$/.test(s)) return s;
  return `"${s.replace(/(["\\$`])/g, "\\$1")}"`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
