import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { openPostgres, type ArchiveDatabase } from "../../src/db/connection.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { silentLogger } from "../../src/logger.js";
import { describeSchema } from "../helpers/schema-dump.js";

let tdb: TestDatabase;
let database: ArchiveDatabase;

beforeAll(async () => {
  tdb = await createTestDatabase("schema");
  database = await openPostgres({ url: tdb.url, target: tdb.name, logger: silentLogger() });
});
afterAll(async () => {
  await database?.close();
  await tdb?.drop();
});

describe("migrations", () => {
  it("build the schema users query, exactly as the committed snapshot", async () => {
    const first = await migrateToLatest(database.db);
    expect(first.applied.length).toBeGreaterThan(0);
    await expect(await describeSchema(database.db)).toMatchFileSnapshot("./__snapshots__/schema.txt");
  });

  it("are idempotent and safe when several processes migrate at once", async () => {
    const again = await Promise.all([migrateToLatest(database.db), migrateToLatest(database.db), migrateToLatest(database.db)]);
    expect(again.map((r) => r.applied)).toEqual([[], [], []]);
  });
});

describe("connections", () => {
  it("run without JIT, unless the URL sets options of its own", async () => {
    const jit = async (d: ArchiveDatabase) => (await sql<{ jit: string }>`show jit`.execute(d.db)).rows[0]!.jit;
    expect(await jit(database)).toBe("off");
    const own = await openPostgres({ url: `${tdb.url}?options=${encodeURIComponent("-c jit=on")}`, target: tdb.name, logger: silentLogger() });
    try {
      expect(await jit(own)).toBe("on");
    } finally {
      await own.close();
    }
  });
});
