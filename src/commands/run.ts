import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Clock } from "../clock.js";
import type { ArchiveDatabase } from "../db/connection.js";
import { migrateToLatest } from "../db/migrator.js";
import { runRetention } from "../retention/index.js";
import { createArchiverMetrics } from "../service/metrics.js";
import { createArchiverService, type DailyJob } from "../service/service.js";
import { createClientFromConfig, openConfiguredDatabase, syncSettings } from "./context.js";

/** Connections beyond the fetch pool: readiness checks, metrics and the status page. */
const HTTP_CONNECTIONS = 3;

export interface RunDeps {
  logger: Logger;
  clock: Clock;
  /** Aborts on SIGTERM/SIGINT: the service stops and this resolves. */
  signal: AbortSignal;
}

/**
 * `run`: migrate (replicas that start together take turns on the migrator's advisory lock), then
 * serve until `signal` aborts: a pass at start and on ARCHIVER_SCHEDULE, health, metrics and the
 * status page. Resolves once everything is closed; the CLI then exits 0.
 */
export async function runCommand(config: Config, deps: RunDeps): Promise<void> {
  const { logger } = deps;
  const metrics = createArchiverMetrics();
  const client = createClientFromConfig(config, logger, (e) => metrics.onClientEvent(e));
  const database = await openConfiguredDatabase(config, logger, HTTP_CONNECTIONS, { command: "run" });
  try {
    const migrated = await migrateToLatest(database.db);
    if (migrated.applied.length > 0) logger.info({ applied: migrated.applied }, "database migrated");
    if (deps.signal.aborted) return;
    let fatal: Error | null = null;
    let wake = (): void => undefined;
    const stopped = new Promise<void>((resolve) => {
      wake = resolve;
      deps.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    const service = createArchiverService({
      database,
      client,
      clock: deps.clock,
      logger,
      settings: syncSettings(config),
      schedule: config.schedule,
      http: { host: config.httpHost, port: config.httpPort, token: config.httpToken },
      metrics,
      dailyJobs: dailyJobs(config, database, deps),
      onFatal: (err) => {
        fatal = err;
        wake();
      },
    });
    try {
      await service.start();
      await stopped;
      logger.info("shutting down: no new passes");
    } finally {
      await service.stop();
    }
    if (fatal) throw fatal;
  } finally {
    await database.close();
  }
}

/**
 * Jobs `run` does once a day after a pass: retention (ARCHIVER_RETENTION / ARCHIVER_ROLLUP_RETENTION,
 * legal holds respected, audited). One transaction under the compliance lock, so replicas that
 * both run it take turns and the second finds nothing left to remove.
 */
function dailyJobs(config: Config, database: ArchiveDatabase, deps: RunDeps): DailyJob[] {
  if (config.retention.kind === "forever" && config.rollupRetention.kind === "forever") return [];
  return [
    {
      name: "retention",
      async run(signal) {
        const r = await runRetention({ database, clock: deps.clock, logger: deps.logger, config }, { dryRun: false, command: "run", signal });
        deps.logger.info(
          { cutoff: r.cutoff, rows: r.totals.rows, versions: r.totals.versions, heldRowsKept: r.totals.heldRowsKept, partitionsDropped: r.partitionsDropped.length },
          "retention applied",
        );
      },
    },
  ];
}
