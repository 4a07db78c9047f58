import { Migrator, sql, type Kysely, type MigrationResult } from "kysely";
import { migrations } from "../../migrations/index.js";

export interface MigrateReport {
  applied: string[];
  current: string | null;
}

/** Advisory-lock key so replicas that start together migrate one at a time. */
const MIGRATE_LOCK = 0x0d9a_0001;

/** Applies every pending migration; safe to call from several processes at once. */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrateReport> {
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${MIGRATE_LOCK})`.execute(conn);
    try {
      await sql`create schema if not exists deepgram_archive`.execute(conn);
      const migrator = new Migrator({
        db: conn,
        provider: { getMigrations: async () => migrations },
        migrationTableSchema: "deepgram_archive",
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw new Error(`Migration failed: ${describe(results)}`, { cause: error });
      const names = Object.keys(migrations);
      return {
        applied: (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName),
        current: names[names.length - 1] ?? null,
      };
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATE_LOCK})`.execute(conn);
    }
  });
}

/**
 * Whether `name` is applied to the database, without changing it: null when the database has no
 * migration ledger at all (no archive yet).
 */
export async function hasMigration(db: Kysely<any>, name: string): Promise<boolean | null> {
  const ledger = await sql<{ t: string | null }>`select to_regclass('deepgram_archive.kysely_migration')::text as t`.execute(db);
  if (ledger.rows[0]!.t === null) return null;
  const found = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.kysely_migration where name = ${name}`.execute(db);
  return found.rows[0]!.n > 0;
}

function describe(results: MigrationResult[] | undefined): string {
  const failed = results?.find((r) => r.status === "Error");
  return failed ? `${failed.migrationName} did not apply` : "see the cause";
}
