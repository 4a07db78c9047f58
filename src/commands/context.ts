import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { ConfigError } from "../errors.js";
import { openPostgres, type ArchiveDatabase } from "../db/connection.js";
import { hasMigration, migrateToLatest } from "../db/migrator.js";
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

/** The migration that made the reconciliation table, the newest one `status` reads. */
export const STATUS_MIGRATION = "0002_usage_rollups";
/** The migration that made the compliance tables verify, export and hold list read. */
export const COMPLIANCE_MIGRATION = "0003_compliance";

/**
 * Opens the archive for a command that only reads it (status, verify, export, hold list) without
 * migrating: an auditor with deepgram_archive_reader may not create anything, and a check must not
 * change the database it checks. An embedded database must already exist, and the schema must
 * have `needs`, the newest migration the command reads from.
 */
export async function openArchiveForReading(config: Config, logger: Logger, command: string, needs: string): Promise<ArchiveDatabase> {
  const database = await openConfiguredDatabase(config, logger, 0, { mustExist: true, command: `deepgram-archiver ${command}` });
  try {
    const applied = await hasMigration(database.db, needs);
    if (applied === null) {
      throw new Error(`The database ${database.target} holds no archive yet. Run \`deepgram-archiver sync\` (or \`deepgram-archiver migrate\`) against it first, or check DATABASE_URL.`);
    }
    if (!applied) {
      throw new Error(`The archive in ${database.target} predates migration ${needs}, which \`deepgram-archiver ${command}\` reads. Run \`deepgram-archiver migrate\` (or any pass) first.`);
    }
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
