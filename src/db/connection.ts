import pg from "pg";
import { Kysely, PostgresDialect, sql } from "kysely";
import type { Logger } from "../logger.js";
import { DatabaseUnavailableError } from "../errors.js";
import type { Database } from "./schema.js";
import { createProjectLocks } from "./project-lock.js";

/**
 * The one database handle the rest of the code sees. Where Postgres and the embedded engine
 * need different code (locks, connection handling) it sits behind this interface.
 */
export interface ArchiveDatabase {
  readonly db: Kysely<Database>;
  readonly engine: "postgres" | "pglite";
  /** host:port/database or the embedded directory; never a password. */
  readonly target: string;
  /**
   * Takes the per-project lock that decides which process archives a project, without waiting.
   * Returns a release function, or null when another process holds it. If the lock's connection
   * fails, the lock is taken again on a new one; `onLost` is called once if that fails or another
   * process took it first (src/db/project-lock.ts).
   */
  tryLockProject(projectId: string, onLost?: (err: Error) => void): Promise<(() => Promise<void>) | null>;
  /**
   * Runs one statement as typed by a person (the `sql` command): never several (extended
   * protocol), values as Postgres's own text, optionally in a read-only transaction that is
   * rolled back afterwards.
   */
  queryRaw(text: string, options: { readOnly: boolean }): Promise<RawQueryResult>;
  close(): Promise<void>;
}

/** Column names and type oids, and every value as Postgres's text form (null for SQL NULL). */
export interface RawQueryResult {
  fields: Array<{ name: string; dataTypeID: number }>;
  rows: Array<Array<string | null>>;
}

export interface OpenDatabaseOptions {
  url: string;
  target: string;
  logger: Logger;
  /** Pool size; size it for the fetch concurrency plus the locks held. */
  poolSize?: number;
}

/**
 * Every connection's settings, the pool's and the project locks'. TCP keepalive: a lock connection
 * sits idle for a whole pass, and a firewall or NAT that drops idle flows would end its session
 * (and free the lock) unseen; a server that vanishes mid-statement is noticed by the kernel's
 * probes instead of never.
 */
const CONNECTION = { connectionTimeoutMillis: 10_000, keepAlive: true, keepAliveInitialDelayMillis: 30_000 } as const;

export async function openPostgres(options: OpenDatabaseOptions): Promise<ArchiveDatabase> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    ...CONNECTION,
    application_name: "deepgram-archiver",
    // No JIT compilation. The archiver's statements are small but estimated large (page rows from
    // unnest, days from generate_series, a lateral count per day), so a server with JIT compiled
    // them with LLVM on every call: 136 ms of a 486 ms reconciliation, about 0.5 s of a one-day
    // rebuild (bench/README.md, item 17). A URL that sets `options` itself replaces this.
    options: "-c jit=off",
  });
  // A client that loses its server must not crash the process. The pool listens on idle clients
  // only; a client checked out between two statements of a transaction would emit an unhandled
  // 'error'. Every client gets a listener; the statement in flight or the next one reports the failure.
  pool.on("error", (err) => options.logger.warn({ err: err.message }, "idle database connection failed"));
  pool.on("connect", (client) => {
    client.on("error", (err) => options.logger.warn({ err: err.message }, "database connection lost"));
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new DatabaseUnavailableError(options.target, { cause: err });
  }

  const locks = createProjectLocks({ url: options.url, logger: options.logger, clientConfig: CONNECTION });
  return {
    db,
    engine: "postgres",
    target: options.target,
    tryLockProject: (projectId, onLost) => locks.tryLock(projectId, onLost),
    async queryRaw(text, opts) {
      const client = await pool.connect();
      try {
        if (opts.readOnly) await client.query("begin transaction read only");
        try {
          const res = await client.query<unknown[]>({
            text,
            rowMode: "array",
            // Extended protocol: a second statement after a semicolon is an error, not run.
            queryMode: "extended",
            types: { getTypeParser: () => (value: string) => value },
          } as pg.QueryConfig & { queryMode: "extended" });
          return { fields: res.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })), rows: res.rows as Array<Array<string | null>> };
        } finally {
          if (opts.readOnly) await client.query("rollback").catch(() => undefined);
        }
      } finally {
        client.release();
      }
    },
    async close() {
      await locks.closeAll();
      await db.destroy();
    },
  };
}
