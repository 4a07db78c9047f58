import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { silentLogger } from "../../src/logger.js";
import { openPglite } from "../../src/db/pglite.js";
import { migrateToLatest } from "../../src/db/migrator.js";
import { lockDataDir } from "../../src/db/data-dir-lock.js";
import type { ArchiveDatabase } from "../../src/db/connection.js";
import { displayWidth, formatCsv, formatResult, formatTable, toObjects } from "../../src/commands/sql.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { runCli, runCliInProcess } from "../helpers/cli.js";

/**
 * `sql` against both engines, through the command line: the configured database is Postgres when
 * DATABASE_URL is set and the embedded one in ARCHIVER_DATA_DIR otherwise.
 */
let tdb: TestDatabase;
let dataDir: string;
const engines: Array<{ name: string; env: () => Record<string, string> }> = [
  { name: "postgres", env: () => ({ DATABASE_URL: tdb.url }) },
  { name: "pglite", env: () => ({ ARCHIVER_DATA_DIR: dataDir }) },
];

async function seed(database: ArchiveDatabase): Promise<void> {
  await migrateToLatest(database.db);
  await sql`
    insert into deepgram_archive.projects (project_id, name, first_seen_at, last_seen_at)
    values ('p-1', 'Acme, "Prod"', '2026-03-14T10:00:00Z', '2026-03-14T10:00:00Z'),
           ('p-2', e'Two\\nLines 日本', '2026-03-15T10:00:00Z', '2026-03-15T10:00:00Z')`.execute(database.db);
}

beforeAll(async () => {
  tdb = await createTestDatabase("sql");
  const { openPostgres } = await import("../../src/db/connection.js");
  const pgDb = await openPostgres({ url: tdb.url, target: tdb.name, logger: silentLogger() });
  await seed(pgDb);
  await pgDb.close();
  dataDir = join(mkdtempSync(join(tmpdir(), "dga-sql-")), "data");
  const lite = await openPglite({ dataDir, logger: silentLogger() });
  await seed(lite);
  await lite.close();
});
afterAll(async () => {
  await tdb?.drop();
  if (dataDir) rmSync(join(dataDir, ".."), { recursive: true, force: true });
});

describe.each(engines)("deepgram-archiver sql on $name", ({ env }) => {
  const q = "select project_id, name, first_seen_at, 42::int8 as answer, null::text as nothing from deepgram_archive.projects order by 1";

  it("prints an aligned table with a row count", async () => {
    const r = await runCliInProcess(["sql", q], env());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^project_id \| +name +\| +first_seen_at +\| answer \| nothing$/);
    expect(lines[1]).toMatch(/^-+-\+-+-\+-+-\+-+-\+-+$/);
    expect(lines[2]).toMatch(/^p-1 +\| Acme, "Prod" +\| 2026-03-14 10:00:00\+00 +\| +42 \|$/);
    expect(lines[3]).toContain("Two\\nLines 日本");
    expect(lines.at(-1)).toBe("(2 rows)");
  });

  it("prints JSON typed as the pg driver types values, and CSV", async () => {
    const json = await runCliInProcess(["sql", q, "--json"], env());
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { project_id: "p-1", name: 'Acme, "Prod"', first_seen_at: "2026-03-14T10:00:00.000Z", answer: "42", nothing: null },
      { project_id: "p-2", name: "Two\nLines 日本", first_seen_at: "2026-03-15T10:00:00.000Z", answer: "42", nothing: null },
    ]);
    const csv = await runCliInProcess(["sql", q, "--csv"], env());
    expect(csv.code).toBe(0);
    expect(csv.stdout).toBe(
      'project_id,name,first_seen_at,answer,nothing\r\np-1,"Acme, ""Prod""",2026-03-14 10:00:00+00,42,\r\np-2,"Two\nLines 日本",2026-03-15 10:00:00+00,42,\r\n',
    );
  });

  it("refuses to write, with Postgres's own message and exit 1, and changes nothing", async () => {
    const r = await runCliInProcess(["sql", "delete from deepgram_archive.projects"], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot execute DELETE in a read-only transaction/);
    const after = await runCliInProcess(["sql", "select count(*) as n from deepgram_archive.projects", "--json"], env());
    expect(JSON.parse(after.stdout)).toEqual([{ n: "2" }]);
  });

  it("runs one statement only, so nothing can follow a commit", async () => {
    const r = await runCliInProcess(["sql", "commit; delete from deepgram_archive.projects"], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot insert multiple commands into a prepared statement/);
  });

  it("reports a bad query with exit 1 and where it went wrong", async () => {
    const r = await runCliInProcess(["sql", "select nope from deepgram_archive.projects"], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/column "nope" does not exist/);
    expect(r.stderr).toMatch(/at character 8/);
  });
});

describe("deepgram-archiver sql usage", () => {
  it("exits 2 without a query or with two output formats", async () => {
    const none = await runCliInProcess(["sql"], { ARCHIVER_DATA_DIR: dataDir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/sql needs one query/);
    const both = await runCliInProcess(["sql", "select 1", "--json", "--csv"], { ARCHIVER_DATA_DIR: dataDir });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/one of --json and --csv/);
  });

  it("says where the embedded database would be and how to make one, with exit 1, instead of creating it", async () => {
    const empty = mkdtempSync(join(tmpdir(), "dga-sql-empty-"));
    try {
      const r = await runCliInProcess(["sql", "select 1"], { ARCHIVER_DATA_DIR: empty });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no embedded database in ${empty}`);
      expect(r.stderr).toMatch(/deepgram-archiver demo/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("is refused at once while another process uses the embedded database", async () => {
    const lock = lockDataDir(dataDir, { logger: silentLogger(), command: "deepgram-archiver run" });
    try {
      const r = await runCli(["sql", "select 1"], { ARCHIVER_DATA_DIR: dataDir });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/in use by process \d+ .*deepgram-archiver run/);
    } finally {
      lock.release();
    }
  });
});

describe("result formatting", () => {
  const result = {
    fields: [
      { name: "n", dataTypeID: 23 },
      { name: "n", dataTypeID: 1700 },
      { name: "doc", dataTypeID: 3802 },
      { name: "tags", dataTypeID: 1009 },
    ],
    rows: [["7", "1.50", '{"a": [1]}', '{x,"y z"}'], [null, null, null, null]],
  };

  it("keeps both of two columns with one name in JSON, typed like pg", () => {
    expect(toObjects(result)).toEqual([
      { n: 7, n_2: "1.50", doc: { a: [1] }, tags: ["x", "y z"] },
      { n: null, n_2: null, doc: null, tags: null },
    ]);
  });

  it("aligns wide characters by their width on a terminal", () => {
    const t = formatTable(["a", "b"], [["日本", "x"], ["ab", "y"]]);
    const [, , r1, r2] = t.split("\n");
    const before = (line: string) => displayWidth(line.slice(0, line.indexOf("|")));
    expect(before(r1!)).toBe(before(r2!));
    expect(r2).toBe("ab   | y");
    expect(formatResult(result, "table")).toMatch(/\(2 rows\)\n$/);
    expect(formatCsv(result).split("\r\n")[0]).toBe("n,n,doc,tags");
  });
});
