import { ManualClock } from "../../src/clock.js";
import type { ArchiveDatabase } from "../../src/db/connection.js";
import { silentLogger, type Logger } from "../../src/logger.js";
import { createDeepgramClient, type ClientEvent, type DeepgramClient } from "../../src/deepgram/index.js";
import { createSimulator, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";
import { runSync, type SyncOptions, type SyncSettings } from "../../src/sync/engine.js";
import { openEngineDatabase, type EngineDatabase, type EngineName } from "./engines.js";
import { NO_PROBLEMS, diffArchive, problemCounts, settledVisible, type ArchiveDiff, type ProblemCounts } from "./compare.js";

export const API_KEY = "test-key-5f0c2e9a7d";

/** A migrated test database, a simulator on a real socket and a client, sharing one manual clock. */
export interface ArchiveFixture {
  engine: EngineName;
  clock: ManualClock;
  sim: Simulator;
  /** The database: a test database on the Postgres server (with its url) or an in-memory PGlite. */
  tdb: EngineDatabase;
  database: ArchiveDatabase;
  client: DeepgramClient;
  settings: SyncSettings;
  events: ClientEvent[];
  logger: Logger;
  sync(options?: SyncOptions): ReturnType<typeof runSync>;
  /** Archive vs truth for every project. */
  diff(): Promise<Record<string, ArchiveDiff>>;
  close(): Promise<void>;
}

export async function createArchiveFixture(
  label: string,
  opts: { sim?: Partial<SimulatorOptions>; settings?: Partial<SyncSettings>; now?: string; logger?: Logger; engine?: EngineName } = {},
): Promise<ArchiveFixture> {
  const clock = new ManualClock(opts.now ?? "2026-11-20T12:20:00Z");
  const sim = createSimulator({ clock, apiKey: API_KEY, seed: 7, projects: 2, days: 95, perDay: 60, slowMs: 3_000, ...opts.sim });
  await sim.start();
  const logger = opts.logger ?? silentLogger();
  const engine = opts.engine ?? "postgres";
  const tdb = await openEngineDatabase(engine, label, logger, 12);
  const database = tdb.database;
  const events: ClientEvent[] = [];
  const client = createDeepgramClient({
    baseUrl: sim.url,
    apiKey: API_KEY,
    // Loose enough for a loaded machine; a "slow" fault (3 s) still runs into it.
    timeoutMs: 2_000,
    retries: 8,
    minDelayMs: 1,
    maxDelayMs: 20,
    logger,
    clock,
    onEvent: (e) => events.push(e),
  });
  const settings: SyncSettings = { timezone: "UTC", windowMs: 6 * 3_600_000, settleMs: 15 * 60_000, rescanMs: 72 * 3_600_000, concurrency: 4, projectIds: null, ...opts.settings };
  const fixture: ArchiveFixture = {
    engine,
    clock,
    sim,
    tdb,
    database,
    client,
    settings,
    events,
    logger,
    sync: (options = {}) => runSync({ database, client, clock, logger, settings }, options),
    async diff() {
      const out: Record<string, ArchiveDiff> = {};
      for (const p of sim.projects()) {
        const expected = settledVisible(sim.visibleTruth(p.project_id), clock.now(), settings.windowMs, settings.settleMs);
        out[p.project_id] = await diffArchive(database.db, p.project_id, expected, sim.truth(p.project_id));
      }
      return out;
    },
    async close() {
      await sim.stop().catch(() => undefined);
      await tdb.drop().catch(() => undefined);
    },
  };
  return fixture;
}

/** Asserts-ready summary: every list empty means the archive is exact. */
export function problems(diffs: Record<string, ArchiveDiff>): Record<string, ProblemCounts> {
  return Object.fromEntries(Object.entries(diffs).map(([p, d]) => [p, problemCounts(d)]));
}

export function exact(diffs: Record<string, ArchiveDiff>): Record<string, ProblemCounts> {
  return Object.fromEntries(Object.keys(diffs).map((p) => [p, NO_PROBLEMS]));
}
