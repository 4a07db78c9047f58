#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { Settings } from "luxon";
import { parseConfig, type Config } from "./config.js";
import { ConfigError, DatabaseUnavailableError } from "./errors.js";
import { createLogger, type Logger } from "./logger.js";
import { systemClock, type Clock } from "./clock.js";
import { DeepgramHttpError } from "./deepgram/index.js";
import { createProgressBar } from "./progress.js";
import { parseRange } from "./time-range.js";
import { formatSyncReport, syncCommand } from "./commands/sync.js";
import { formatStatus, getStatus } from "./commands/status.js";
import { openArchiveForReading, openConfiguredDatabase, STATUS_MIGRATION, syncSettings } from "./commands/context.js";
import { migrateToLatest } from "./db/migrator.js";
import { simulateCommand } from "./commands/simulate.js";
import { runCommand } from "./commands/run.js";
import { formatSummaryReport, summarizeCommand } from "./commands/summarize.js";
import { formatReconcileTable, reconcileCommand } from "./commands/reconcile.js";
import { DEMO_DEFAULTS, DEMO_STAGE_TEXT, formatDemoReport, parseDemoArgs, runDemo, type DemoStage } from "./commands/demo.js";
import { formatResult, parseSqlArgs, runReadOnlyQuery, SqlQueryError } from "./commands/sql.js";
import { DataDirLockedError } from "./db/data-dir-lock.js";
import { EmbeddedDatabaseMissingError } from "./db/pglite.js";
import { formatRetentionReport, retentionCommand } from "./commands/retention.js";
import { formatHold, formatHoldList, holdAddCommand, holdListCommand, holdReleaseCommand } from "./commands/hold.js";
import { formatVerifyReport, verifyCommand } from "./commands/verify.js";
import { exportCommand, exportVerifyCommand, formatExport, formatExportCheck } from "./commands/export.js";
import { HoldError } from "./retention/index.js";

/** Exit codes: 0 success; 1 the work failed or finished partially; 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

type Env = Record<string, string | undefined>;

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: Env;
  /** The time every command reads: the system's, unless a test pins it. */
  clock?: Clock;
}

function configFor(io: Io, requireApiKey: boolean): { config: Config; logger: Logger } {
  const config = parseConfig(io.env, { requireApiKey });
  return { config, logger: createLogger({ level: config.logLevel }) };
}

function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const clock = io.clock ?? systemClock;
  const program = new Command("deepgram-archiver")
    .description("Keeps a permanent, provably complete copy of Deepgram request logs and usage in Postgres.")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  program
    .command("migrate")
    .description("apply database migrations and exit")
    .action(async () => {
      const { config, logger } = configFor(io, false);
      const database = await openConfiguredDatabase(config, logger);
      try {
        const r = await migrateToLatest(database.db);
        io.stdout.write(r.applied.length ? `applied ${r.applied.join(", ")}\n` : `schema is up to date (${r.current})\n`);
      } finally {
        await database.close();
      }
    });

  program
    .command("sync")
    .description("one archiving pass now; with --since/--until an explicit backfill range that leaves the normal plan alone")
    .addOption(new Option("--project <id>", "archive only this project (repeatable)").argParser((v: string, prev: string[] = []) => [...prev, v]))
    .option("--since <time>", "backfill from this day or ISO timestamp")
    .option("--until <time>", "backfill up to this day (inclusive) or ISO timestamp")
    .option("--json", "print the pass report as JSON")
    .action(async (opts: { project?: string[]; since?: string; until?: string; json?: boolean }) => {
      const { config, logger } = configFor(io, true);
      const range = parseRange(opts.since, opts.until, config.timezone);
      if (range.problems.length) throw new ConfigError(range.problems);
      const controller = new AbortController();
      const stop = onSignals(() => controller.abort(new Error("interrupted")));
      const bar = io.stderr.isTTY && !opts.json ? createProgressBar(io.stderr) : null;
      try {
        const report = await syncCommand(config, { logger, clock, onEvent: bar?.onEvent }, {
          projectIds: opts.project,
          since: range.since ?? undefined,
          until: range.until ?? undefined,
          signal: controller.signal,
        });
        bar?.done();
        io.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatSyncReport(report));
        setExit(report.outcome === "succeeded" ? EXIT.ok : EXIT.failed);
      } finally {
        stop();
      }
    });

  program
    .command("status")
    .description("per project: archived range, windows complete, gaps, last pass, horizon margin")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const { config, logger } = configFor(io, false);
      // Reads only: no migration, so an auditor's read-only role can run it and it changes nothing.
      const database = await openArchiveForReading(config, logger, "status", STATUS_MIGRATION);
      try {
        const report = await getStatus(database, clock, syncSettings(config));
        io.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatStatus(report));
      } finally {
        await database.close();
      }
    });

  program
    .command("summarize")
    .description("build the daily rollups: drain the dirty days (default), or rebuild a range or everything in ARCHIVER_TIMEZONE")
    .option("--since <day>", "first local day (YYYY-MM-DD)")
    .option("--until <day>", "last local day, inclusive (YYYY-MM-DD)")
    .option("--rebuild", "recompute every day of the range; without a range, every day (also moves the rollups to a new ARCHIVER_TIMEZONE)")
    .option("--json", "print the report as JSON")
    .action(async (opts: { since?: string; until?: string; rebuild?: boolean; json?: boolean }) => {
      const { config, logger } = configFor(io, false);
      const report = await summarizeCommand(config, { logger, clock }, opts);
      io.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatSummaryReport(report));
    });

  program
    .command("reconcile")
    .description("compare the archived requests and hours per UTC day with Deepgram's own daily usage; exit 1 on any mismatch")
    .option("--since <day>", "first UTC day (YYYY-MM-DD)")
    .option("--until <day>", "last UTC day, inclusive (YYYY-MM-DD)")
    .option("--json", "print a JSON array of {project_id, day, status, archived_requests, vendor_requests, archived_hours, vendor_hours}")
    .action(async (opts: { since?: string; until?: string; json?: boolean }) => {
      const { config, logger } = configFor(io, false);
      const result = await reconcileCommand(config, { logger, clock }, opts);
      io.stdout.write(opts.json ? JSON.stringify(result.rows, null, 2) + "\n" : formatReconcileTable(result));
      setExit(result.counts.mismatch > 0 ? EXIT.failed : EXIT.ok);
    });

  program
    .command("run")
    .description("the long-running service: a pass at start and on ARCHIVER_SCHEDULE; /healthz, /readyz, /metrics and a status page on ARCHIVER_HTTP_HOST:ARCHIVER_HTTP_PORT")
    .action(async () => {
      const { config, logger } = configFor(io, true);
      const controller = new AbortController();
      const stop = onSignals(() => {
        controller.abort(new Error("stopping on a signal"));
        // Whatever hangs (a database that stopped answering), the process is gone within 10 s.
        setTimeout(() => {
          logger.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting anyway (open transactions roll back)`);
          process.exit(EXIT.failed);
        }, SHUTDOWN_DEADLINE_MS).unref();
      });
      try {
        await runCommand(config, { logger, clock, signal: controller.signal });
      } finally {
        stop();
      }
    });

  program
    .command("simulate")
    .description("serve a faithful fake of Deepgram's management API (for trying the archiver without a key)")
    .option("--port <n>", "port to listen on", "8787")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--seed <n>", "data seed", "1")
    .option("--projects <n>", "number of projects", "2")
    .option("--days <n>", "days of history", "95")
    .option("--per-day <n>", "requests per day per project", "200")
    .option("--faults <rate>", "fraction of requests that fail (0..1)", "0")
    .option("--key <key>", "API key the simulator accepts", "simulator-key")
    .action(async (opts: Record<string, string>) => {
      const sim = await simulateCommand(opts, io.stdout);
      // Serves until a signal arrives, then closes its port and connections so the process exits.
      // The handler stays while it closes: a second signal still exits at once.
      let unsubscribe = () => {};
      await new Promise<void>((resolve) => (unsubscribe = onSignals(resolve)));
      try {
        await sim.stop();
      } finally {
        unsubscribe();
      }
      io.stdout.write("Simulator stopped.\n");
    });

  program
    .command("demo")
    .description("a simulated Deepgram account archived into a fresh embedded database, summarized and reconciled, in one command; no key or database needed")
    .option("--days <n>", "days of simulated history", String(DEMO_DEFAULTS.days))
    .option("--per-day <n>", "requests a day per project", String(DEMO_DEFAULTS.perDay))
    .option("--projects <n>", "simulated projects", String(DEMO_DEFAULTS.projects))
    .option("--faults <rate>", "fraction of API calls that fail on purpose (0..0.5)", String(DEMO_DEFAULTS.faultRate))
    .option("--seed <n>", "data seed", String(DEMO_DEFAULTS.seed))
    .action(async (opts: Record<string, string>) => {
      const demo = parseDemoArgs(opts);
      // The demo never needs a key and always uses its own embedded database.
      const config = parseConfig({ ...io.env, DEEPGRAM_API_KEY: undefined, DEEPGRAM_API_KEY_FILE: undefined, DATABASE_URL: undefined });
      const logger = createLogger({ level: io.env.LOG_LEVEL ? config.logLevel : "error" });
      const tty = io.stderr.isTTY === true;
      let bar: ReturnType<typeof createProgressBar> | null = null;
      const onStage = (stage: DemoStage) => {
        if (!tty) return;
        bar?.done();
        bar = null;
        if (stage === "archive") bar = createProgressBar(io.stderr);
        else io.stderr.write(`${DEMO_STAGE_TEXT[stage]}\n`);
      };
      const report = await runDemo(
        { logger, clock, onStage, onEvent: (e) => bar?.onEvent(e) },
        { dataDir: config.dataDir, timezone: config.timezone, ...demo },
      );
      io.stdout.write(formatDemoReport(report));
      setExit(report.sync.outcome === "succeeded" ? EXIT.ok : EXIT.failed);
    });

  program
    .command("sql")
    .description("run one read-only query against the configured database (embedded or DATABASE_URL) and print the rows")
    .argument("[query]", 'one SQL statement, quoted: "select ..."')
    .option("--json", "print a JSON array of row objects")
    .option("--csv", "print CSV with a header line")
    .action(async (query: string | undefined, opts: { json?: boolean; csv?: boolean }) => {
      const args = parseSqlArgs(query, opts);
      const config = parseConfig(io.env);
      const logger = createLogger({ level: io.env.LOG_LEVEL ? config.logLevel : "warn" });
      const database = await openConfiguredDatabase(config, logger, 0, { mustExist: true, command: "deepgram-archiver sql" });
      try {
        io.stdout.write(formatResult(await runReadOnlyQuery(database, args.query), args.format));
      } finally {
        await database.close();
      }
    });

  registerComplianceCommands(program, io, clock, setExit);
  return program;
}

const repeatable = (v: string, prev: string[] = []) => [...prev, v];

/** retention, hold add|list|release, verify, export (docs/COMPLIANCE.md). */
function registerComplianceCommands(program: Command, io: Io, clock: Clock, setExit: (code: number) => void): void {
  const deps = (logger: Logger) => ({ logger, clock });

  program
    .command("retention")
    .description("apply ARCHIVER_RETENTION (request logs) and ARCHIVER_ROLLUP_RETENTION, never deleting what a legal hold covers")
    .option("--dry-run", "print per project and month what would go; change nothing")
    .option("--json", "print the report as JSON")
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const { config, logger } = configFor(io, false);
      const report = await retentionCommand(config, deps(logger), { dryRun: opts.dryRun === true });
      io.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatRetentionReport(report));
    });

  const hold = program.command("hold").description("legal holds: rows they cover are never deleted by retention");
  hold
    .command("add")
    .description("place a legal hold over requests created in a range")
    .requiredOption("--since <time>", "first day (inclusive, ARCHIVER_TIMEZONE) or ISO timestamp")
    .requiredOption("--until <time>", "last day (inclusive) or ISO timestamp")
    .requiredOption("--reason <text>", "why (case, ticket); recorded with the hold")
    .option("--project <id>", "only this project (default: every project)")
    .action(async (opts: { since: string; until: string; reason: string; project?: string }) => {
      const { config, logger } = configFor(io, false);
      const range = parseRange(opts.since, opts.until, config.timezone);
      if (opts.reason.trim() === "") range.problems.push("--reason must say why the hold is placed.");
      if (range.problems.length) throw new ConfigError(range.problems);
      const h = await holdAddCommand(config, deps(logger), { since: range.since!, until: range.until!, reason: opts.reason.trim(), projectId: opts.project ?? null });
      io.stdout.write(formatHold(h, "placed"));
    });
  hold
    .command("list")
    .description("active legal holds, with the rows each covers")
    .option("--all", "include released holds")
    .option("--json", "print JSON")
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const { config, logger } = configFor(io, false);
      const holds = await holdListCommand(config, deps(logger), { includeReleased: opts.all === true });
      io.stdout.write(opts.json ? JSON.stringify(holds, null, 2) + "\n" : formatHoldList(holds));
    });
  hold
    .command("release")
    .description("release a legal hold (it stays listed with --all)")
    .argument("<id>", "hold id (hold list)")
    .requiredOption("--reason <text>", "why it is released; recorded with the hold")
    .action(async (id: string, opts: { reason: string }) => {
      const { config, logger } = configFor(io, false);
      const problems = [];
      if (!/^\d+$/.test(id)) problems.push(`hold id must be a number (see \`hold list\`); got ${JSON.stringify(id)}.`);
      if (opts.reason.trim() === "") problems.push("--reason must say why the hold is released.");
      if (problems.length) throw new ConfigError(problems);
      try {
        io.stdout.write(formatHold(await holdReleaseCommand(config, deps(logger), { holdId: id, reason: opts.reason.trim() }), "released"));
      } catch (err) {
        if (!(err instanceof HoldError)) throw err;
        io.stderr.write(`error: ${err.message}\n`);
        setExit(EXIT.failed);
      }
    });

  program
    .command("verify")
    .description("recompute content hashes and sealed-day digests; exit 1 when archived rows changed outside the archiver")
    .option("--since <time>", "from this day or ISO timestamp")
    .option("--until <time>", "up to this day (inclusive) or ISO timestamp")
    .addOption(new Option("--project <id>", "only this project (repeatable)").argParser(repeatable))
    .option("--accept", "after a deliberate, documented change: re-seal the changed days as they are now and accept overrides of the seals (needs --reason)")
    .option("--reason <text>", "why the changes are accepted; recorded in audit_log")
    .option("--json", "print the report as JSON")
    .action(async (opts: { since?: string; until?: string; project?: string[]; accept?: boolean; reason?: string; json?: boolean }) => {
      const { config, logger } = configFor(io, false);
      const range = parseRange(opts.since, opts.until, config.timezone);
      if (opts.accept && !opts.reason?.trim()) range.problems.push("--accept needs --reason: why the changes are accepted.");
      if (!opts.accept && opts.reason !== undefined) range.problems.push("--reason goes with --accept.");
      if (range.problems.length) throw new ConfigError(range.problems);
      const result = await verifyCommand(config, deps(logger), {
        since: range.since,
        until: range.until,
        projectIds: opts.project?.length ? opts.project : null,
        acceptReason: opts.accept ? opts.reason!.trim() : undefined,
      });
      io.stdout.write(opts.json ? JSON.stringify(result, null, 2) + "\n" : formatVerifyReport(result));
      setExit(result.report.ok ? EXIT.ok : EXIT.failed);
    });

  program
    .command("export")
    .description("stream archived requests to a file (JSONL raw items or CSV typed columns) with FILE.manifest.json; or check a file with --verify")
    .option("--since <time>", "from this day or ISO timestamp")
    .option("--until <time>", "up to this day (inclusive) or ISO timestamp")
    .addOption(new Option("--format <format>", "jsonl: the raw items; csv: the typed columns").choices(["jsonl", "csv"]))
    .addOption(new Option("--project <id>", "only this project (repeatable)").argParser(repeatable))
    .option("--out <file>", "where to write; FILE.manifest.json goes beside it")
    .option("--verify <file>", "check FILE against FILE.manifest.json (row count, bytes, sha256) and exit 1 on a mismatch")
    .action(async (opts: { since?: string; until?: string; format?: "jsonl" | "csv"; project?: string[]; out?: string; verify?: string }) => {
      if (opts.verify !== undefined) {
        const other = (["since", "until", "format", "project", "out"] as const).filter((k) => opts[k] !== undefined);
        if (other.length) throw new ConfigError([`--verify checks a file and takes no ${other.map((k) => `--${k}`).join(", ")}.`]);
        const check = await exportVerifyCommand(opts.verify);
        io.stdout.write(formatExportCheck(check));
        setExit(check.ok ? EXIT.ok : EXIT.failed);
        return;
      }
      const { config, logger } = configFor(io, false);
      const range = parseRange(opts.since, opts.until, config.timezone);
      if (opts.since === undefined) range.problems.push("--since is required: the first day (or ISO timestamp) to export.");
      if (opts.until === undefined) range.problems.push("--until is required: the last day (inclusive, or an ISO timestamp) to export.");
      if (opts.format === undefined) range.problems.push("--format is required: jsonl (the raw items) or csv (the typed columns).");
      if (opts.out === undefined) range.problems.push("--out is required: the file to write.");
      if (range.problems.length) throw new ConfigError(range.problems);
      const manifest = await exportCommand(config, deps(logger), {
        since: range.since!,
        until: range.until!,
        given: { since: opts.since!, until: opts.until! },
        format: opts.format!,
        projectIds: opts.project?.length ? opts.project : null,
        out: opts.out!,
      });
      io.stdout.write(formatExport(manifest, opts.out!));
    });
}

/** `run` is gone this long after the first SIGTERM/SIGINT, finished or not. */
const SHUTDOWN_DEADLINE_MS = 8_000;

/** Calls `fn` on the first SIGINT/SIGTERM; a second signal exits at once (128 + signal number). Returns an unsubscribe. */
function onSignals(fn: () => void): () => void {
  let seen = false;
  const handler = (signal: NodeJS.Signals) => {
    if (seen) process.exit(signal === "SIGTERM" ? 143 : 130);
    seen = true;
    fn();
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}

export async function main(argv: string[], io: Io): Promise<number> {
  Settings.throwOnInvalid = true;
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, (c) => (exitCode = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: Io): number {
  if (err instanceof CommanderError) {
    // Help and version are not failures; commander already printed the usage problem.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof ConfigError) {
    io.stderr.write(`${err.message}\n`);
    return EXIT.usage;
  }
  if (
    err instanceof DatabaseUnavailableError ||
    err instanceof DeepgramHttpError ||
    err instanceof DataDirLockedError ||
    err instanceof EmbeddedDatabaseMissingError ||
    err instanceof SqlQueryError
  ) {
    io.stderr.write(`error: ${err.message}\n`);
    return EXIT.failed;
  }
  io.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
  return EXIT.failed;
}

/** Run as a program, also through npm's bin symlink (node_modules/.bin/deepgram-archiver). */
function isEntry(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isEntry() || process.env.DEEPGRAM_ARCHIVER_CLI === "1") {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
    process.exitCode = code;
  });
}
