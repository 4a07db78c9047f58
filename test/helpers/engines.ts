import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Kysely, sql } from "kysely";
import { PGliteDialect } from "kysely-pglite-dialect";
import { openPostgres, type ArchiveDatabase } from "../../src/db/connection.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { createPgCompatiblePglite, openPglite } from "../../src/db/pglite.js";
import type { Logger } from "../../src/logger.js";
import { createTestDatabase } from "./database.js";

/**
 * The two engines the archive runs on. Scenario tests run on both: `describe.each(ENGINES)`.
 * Postgres is a fresh database on the test server; PGlite a fresh in-memory database started
 * from a migrated image (initdb and migrations cost seconds; loading the image far less).
 */
export type EngineName = "postgres" | "pglite";
export const ENGINES: readonly EngineName[] = ["postgres", "pglite"];

export interface EngineDatabase {
  engine: EngineName;
  database: ArchiveDatabase;
  /** Connection string for child processes; null for the in-memory embedded database. */
  url: string | null;
  name: string;
  /** Closes the handle and removes the database. */
  drop(): Promise<void>;
}

let pgliteImage: Promise<Blob> | null = null;

/**
 * A freshly migrated embedded database image. Made once and kept in the system's temp folder,
 * keyed by the PGlite version and the migrations' source, so test processes share it.
 */
export function migratedPgliteImage(): Promise<Blob> {
  pgliteImage ??= (async () => {
    const file = join(tmpdir(), "deepgram-archiver-test-images", `pglite-${imageKey()}.tar`);
    if (existsSync(file)) return new Blob([readFileSync(file)]);
    const pglite = await createPgCompatiblePglite();
    const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite) });
    try {
      await migrateToLatest(db);
      await sql`checkpoint`.execute(db);
      const image = (await pglite.dumpDataDir("none")) as Blob;
      mkdirSync(dirname(file), { recursive: true });
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, Buffer.from(await image.arrayBuffer()));
      renameSync(partial, file);
      return image;
    } finally {
      await db.destroy();
    }
  })();
  return pgliteImage;
}

function imageKey(): string {
  const hash = createHash("sha256");
  hash.update(readFileSync(new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url)));
  const dir = fileURLToPath(new URL("../../migrations/", import.meta.url));
  for (const f of readdirSync(dir).sort()) hash.update(f).update(readFileSync(join(dir, f)));
  return hash.digest("hex").slice(0, 16);
}

/** A migrated, empty archive database on `engine`, of its own. */
export async function openEngineDatabase(engine: EngineName, label: string, logger: Logger, poolSize = 12): Promise<EngineDatabase> {
  if (engine === "pglite") {
    const database = await openPglite({ logger, loadDataDir: await migratedPgliteImage() });
    await migrateToLatest(database.db);
    return { engine, database, url: null, name: `pglite:${label}`, drop: () => database.close() };
  }
  const tdb = await createTestDatabase(label);
  const database = await openPostgres({ url: tdb.url, target: tdb.name, logger, poolSize });
  await migrateToLatest(database.db);
  return {
    engine,
    database,
    url: tdb.url,
    name: tdb.name,
    async drop() {
      await database.close().catch(() => undefined);
      await tdb.drop();
    },
  };
}
