import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { ConfigError } from "../errors.js";
import { openPostgres, type ArchiveDatabase } from "../db/connection.js";
import { migrateToLatest } from "../db/migrator.js";
import { openPglite } from "../db/pglite.js";
import { createDeepgramClient, type ClientEvent, type DeepgramClient } from "../deepgram/index.js";
import type { SyncSettings } from "../sync/engine.js";

/**
 * Opens the configured database: Postgres at DATABASE_URL (pool sized for the fetch concurrency
 * and the project locks), else the embedded database in ARCHIVER_DATA_DIR, locked to this process.
 */
export async function openConfiguredDatabase(
  config: Config,
  logger: Logger,
  extraConnections = 0,
  embedded: { command?: string; mustExist?: boolean } = {},
): Promise<ArchiveDatabase> {
  if (config.databaseUrl === null) {
    return openPglite({ dataDir: config.dataDir, logger, command: embedded.command, mustExist: embedded.mustExist });
  }
  return openPostgres({
    url: config.databaseUrl,
    target: config.databaseTarget,
    logger,
    poolSize: config.concurrency + 2 + extraConnections,
  });
}

/** Opens the database and brings its schema up to date; every command that writes starts here. */
export async function openMigratedDatabase(config: Config, logger: Logger): Promise<ArchiveDatabase> {
  const database = await openConfiguredDatabase(config, logger);
  try {
    const r = await migrateToLatest(database.db);
    if (r.applied.length > 0) logger.info({ applied: r.applied }, "database migrated");
    return database;
  } catch (err) {
    await database.close();
    throw err;
  }
}

export function createClientFromConfig(config: Config, logger: Logger, onEvent?: (e: ClientEvent) => void): DeepgramClient {
  if (config.apiKey === null) throw new ConfigError(["DEEPGRAM_API_KEY (or DEEPGRAM_API_KEY_FILE) is required."]);
  return createDeepgramClient({ baseUrl: config.baseUrl, apiKey: config.apiKey, timeoutMs: config.requestTimeoutMs, logger, onEvent });
}

export function syncSettings(config: Config): SyncSettings {
  return {
    timezone: config.timezone,
    windowMs: config.windowMs,
    settleMs: config.settleMs,
    rescanMs: config.rescanMs,
    concurrency: config.concurrency,
    projectIds: config.projectIds,
    usageSinceDays: config.usageSinceDays,
  };
}
