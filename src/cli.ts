#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { Settings } from "luxon";
import { parseConfig, type Config } from "./config.js";
import { ConfigError, DatabaseUnavailableError } from "./errors.js";
import { createLogger, type Logger } from "./logger.js";
import { systemClock } from "./clock.js";
import { DeepgramHttpError } from "./deepgram/index.js";
import { createProgressBar } from "./progress.js";
import { parseRange } from "./time-range.js";
import { formatSyncReport, syncCommand } from "./commands/sync.js";
import { formatStatus, getStatus } from "./commands/status.js";
import { openConfiguredDatabase, openMigratedDatabase, syncSettings } from "./commands/context.js";
import { migrateToLatest } from "./db/migrator.js";
import { simulateCommand } from "./commands/simulate.js";

/** Exit codes: 0 success; 1 the work failed or finished partially; 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

type Env = Record<string, string | undefined>;

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: Env;
}

function configFor(io: Io, requireApiKey: boolean): { config: Config; logger: Logger } {
  const config = parseConfig(io.env, { requireApiKey });
  return { config, logger: createLogger({ level: config.logLevel }) };
}

function buildProgram(io: Io, setExit: (code: number) => void): Command {
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
        const report = await syncCommand(config, { logger, clock: systemClock, onEvent: bar?.onEvent }, {
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
      const database = await openMigratedDatabase(config, logger);
      try {
        const report = await getStatus(database, systemClock, syncSettings(config));
        io.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatStatus(report));
      } finally {
        await database.close();
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
      await simulateCommand(opts, io.stdout);
      // Serves until a signal arrives.
      await new Promise<void>((resolve) => onSignals(resolve));
    });

  return program;
}

/** Calls `fn` on the first SIGINT/SIGTERM; a second signal exits at once. Returns an unsubscribe. */
function onSignals(fn: () => void): () => void {
  let seen = false;
  const handler = () => {
    if (seen) process.exit(130);
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
  if (err instanceof DatabaseUnavailableError || err instanceof DeepgramHttpError) {
    io.stderr.write(`error: ${err.message}\n`);
    return EXIT.failed;
  }
  io.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
  return EXIT.failed;
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry || process.env.DEEPGRAM_ARCHIVER_CLI === "1") {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
    process.exitCode = code;
  });
}
