import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { PGlite, type ParserOptions, type SerializerOptions } from "@electric-sql/pglite";
import { Kysely } from "kysely";
import { PGliteDialect } from "kysely-pglite-dialect";
import type { Logger } from "../logger.js";
import type { ArchiveDatabase, RawQueryResult } from "./connection.js";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import type { Database } from "./schema.js";

/** The Postgres files live in a folder of their own; the lock file sits beside it. */
export const PGLITE_SUBDIR = "pglite";

/** `sql` and other readers ask for a database that exists rather than create an empty one. */
export class EmbeddedDatabaseMissingError extends Error {
  override readonly name = "EmbeddedDatabaseMissingError";
  constructor(readonly dataDir: string) {
    super(
      `There is no embedded database in ${dataDir} yet. Run \`deepgram-archiver sync\` (or \`deepgram-archiver demo\`, whose database is ` +
        `in ${join(dataDir, "demo")}: set ARCHIVER_DATA_DIR=${join(dataDir, "demo")}) first, or set DATABASE_URL to use a Postgres server.`,
    );
  }
}

export interface OpenPgliteOptions {
  /** ARCHIVER_DATA_DIR; created if missing. Omit for a throwaway in-memory database (tests). */
  dataDir?: string;
  logger: Logger;
  /** Named to a second process that finds the directory locked. */
  command?: string;
  /** Refuse (EmbeddedDatabaseMissingError) instead of creating a new database. */
  mustExist?: boolean;
  /** A dumpDataDir() snapshot to start a new database from (tests: skips initdb). */
  loadDataDir?: Blob;
  /** A lock the caller already holds on dataDir (the demo locks before it clears the folder). */
  lock?: DataDirLock;
}

/**
 * Values in and out exactly as the pg driver gives them, so code shared by both engines sees
 * the same JavaScript types: int8 and numeric as strings, date as a local-midnight Date,
 * interval as an object, and parameters prepared the same way (dates in local time with their
 * offset, objects as JSON). PGlite alone would return int8 as a number and dates at UTC
 * midnight, which diverge as soon as a count or a day is compared.
 */
export function pgCompatibleTypes(): { parsers: ParserOptions; serializers: SerializerOptions } {
  const parsers: ParserOptions = {};
  const identity = pg.types.getTypeParser(0x7fff_fff0 as never, "text");
  for (const oid of Object.values(pg.types.builtins) as number[]) {
    const parse = pg.types.getTypeParser(oid, "text");
    if (parse !== identity) parsers[oid] = (value: string) => parse(value);
  }
  // pg exports its own parameter preparation at runtime; @types/pg does not declare it.
  const { prepareValue } = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils;
  const prepare = (value: unknown) => prepareValue(value) as string;
  const serializers: SerializerOptions = {};
  // Types whose text form from a Date depends on how the Date is written (local vs UTC).
  for (const oid of [pg.types.builtins.DATE, pg.types.builtins.TIMESTAMP, pg.types.builtins.TIMESTAMPTZ]) serializers[oid] = prepare;
  // Text and JSON go in binary format: the same bytes, but PGlite's per-character UTF-8 sizing in
  // JavaScript is skipped, a good part of the cost of handing a 1 MB page of rows to Postgres.
  // Values are prepared as pg prepares them first (a boolean as text, an object as JSON), where
  // PGlite alone would throw. PGlite's bind sends a Uint8Array as a binary-format parameter (its
  // typings say string only).
  const binary = (fn: (value: unknown) => Uint8Array) => fn as unknown as (value: unknown) => string;
  const utf8 = binary((value: unknown) => {
    const prepared = prepareValue(value);
    return typeof prepared === "string" ? Buffer.from(prepared, "utf8") : (prepared as Uint8Array);
  });
  for (const oid of [pg.types.builtins.TEXT, pg.types.builtins.VARCHAR, pg.types.builtins.BPCHAR, pg.types.builtins.JSON]) serializers[oid] = utf8;
  // jsonb's binary form is a version byte (1) followed by the JSON text.
  serializers[pg.types.builtins.JSONB] = binary((value: unknown) => {
    const prepared = prepareValue(value);
    const text = typeof prepared === "string" ? prepared : Buffer.from(prepared as Uint8Array).toString("utf8");
    const out = Buffer.allocUnsafe(Buffer.byteLength(text, "utf8") + 1);
    out[0] = 1;
    out.write(text, 1, "utf8");
    return out;
  });
  return { parsers, serializers };
}

/**
 * PGlite builds array serializers from the element's serializer when it starts; arrays of text
 * and json must not inherit the binary element form above, so they go as pg writes them (an
 * array literal in text format).
 */
/** A PGlite instance that reads and binds values as the pg driver does (see pgCompatibleTypes). */
export async function createPgCompatiblePglite(options: { dataDir?: string; loadDataDir?: Blob } = {}): Promise<PGlite> {
  const pglite = await PGlite.create({
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    ...pgCompatibleTypes(),
  });
  useTextFormatArrays(pglite);
  return pglite;
}

function useTextFormatArrays(pglite: PGlite): void {
  const { prepareValue } = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils;
  const TEXT_ARRAYS = [1009, 1015, 1014, 199, 3807]; // text[], varchar[], bpchar[], json[], jsonb[]
  for (const oid of TEXT_ARRAYS) pglite.serializers[oid] = (value: unknown) => prepareValue(value) as string;
}

/**
 * The embedded database: Postgres 17 compiled to WebAssembly, persisted in `dataDir`, for one
 * process. The directory is locked for the life of the handle (see data-dir-lock.ts).
 */
export async function openPglite(options: OpenPgliteOptions): Promise<ArchiveDatabase> {
  const { dataDir, logger } = options;
  let lock: DataDirLock | null = options.lock ?? null;
  let pgDir: string | undefined;
  if (dataDir !== undefined) {
    pgDir = join(dataDir, PGLITE_SUBDIR);
    const exists = existsSync(join(pgDir, "PG_VERSION"));
    if (options.mustExist && !exists) throw new EmbeddedDatabaseMissingError(dataDir);
    mkdirSync(pgDir, { recursive: true });
    lock ??= lockDataDir(dataDir, { logger, command: options.command });
  }
  let pglite: PGlite;
  try {
    pglite = await createPgCompatiblePglite({ dataDir: pgDir, loadDataDir: options.loadDataDir });
  } catch (err) {
    lock?.release();
    throw new Error(`Cannot open the embedded database in ${dataDir ?? "memory"}: ${(err as Error).message}`, { cause: err });
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  const target = dataDir !== undefined ? `embedded database in ${dataDir}` : "embedded in-memory database";
  if (dataDir !== undefined) {
    logger.info(
      { dataDir, engine: "pglite" },
      `using the embedded database (PGlite) in ${dataDir}; it suits one archiver process. Set DATABASE_URL to use a Postgres server instead.`,
    );
  }

  // The lock file already makes this process the only one on the directory; within it, a set.
  const lockedProjects = new Set<string>();
  let closed = false;
  return {
    db,
    engine: "pglite",
    target,
    async tryLockProject(projectId) {
      if (lockedProjects.has(projectId)) return null;
      lockedProjects.add(projectId);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        lockedProjects.delete(projectId);
      };
    },
    async queryRaw(text, opts) {
      // Holding the dialect's one connection keeps every other query of this process out meanwhile.
      return db.connection().execute(async () => {
        if (opts.readOnly) await pglite.query("begin transaction read only");
        try {
          const described = await pglite.describeQuery(text);
          const asText: ParserOptions = {};
          for (const f of described.resultFields) asText[f.dataTypeID] = (v: string) => v;
          const res = await pglite.query<unknown[]>(text, [], { rowMode: "array", parsers: asText });
          return {
            fields: res.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
            rows: res.rows as Array<Array<string | null>>,
          } satisfies RawQueryResult;
        } finally {
          if (opts.readOnly) await pglite.query("rollback").catch(() => undefined);
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await db.destroy();
      } finally {
        lock?.release();
      }
    },
  };
}
