import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { runCliInProcess as runCli } from "../helpers/cli.js";
import { parseConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { exportCommand } from "../../src/commands/export.js";
import { CSV_COLUMNS, exportArchive, verifyExportFile, type ExportManifest } from "../../src/retention/index.js";
import { csvField, csvRecord } from "../../src/retention/csv.js";

const DAY_MS = 86_400_000;
const WEEK = { since: new Date("2026-11-12T00:00:00Z"), until: new Date("2026-11-19T00:00:00Z") };

let f: ArchiveFixture;
let dir: string;
const sha256 = (buf: Buffer) => createHash("sha256").update(buf).digest("hex");

beforeAll(async () => {
  f = await createArchiveFixture("export", { sim: { days: 10, perDay: 24 }, settings: { windowMs: DAY_MS } });
  expect((await f.sync()).outcome).toBe("succeeded");
  dir = mkdtempSync(join(tmpdir(), "dga-export-"));
});
afterAll(async () => {
  await f?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** RFC 4180: records of fields; quoted fields may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): Array<Array<string | null>> {
  const records: Array<Array<string | null>> = [];
  let field = "";
  let quoted = false;
  let wasQuoted = false;
  let record: Array<string | null> = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') (quoted = true), (wasQuoted = true);
    else if (ch === ",") record.push(field === "" && !wasQuoted ? null : field), (field = ""), (wasQuoted = false);
    else if (ch === "\r" && text[i + 1] === "\n") {
      record.push(field === "" && !wasQuoted ? null : field);
      records.push(record);
      (record = []), (field = ""), (wasQuoted = false), i++;
    } else field += ch;
  }
  return records;
}

describe("export", () => {
  it("exports a week as JSONL: exactly the archive's rows of that range, with a manifest carrying the file's sha256", async () => {
    const out = join(dir, "week.jsonl");
    const r = await runCli(["export", "--since", "2026-11-12", "--until", "2026-11-18", "--format", "jsonl", "--out", out], { DATABASE_URL: f.tdb.url!, LOG_LEVEL: "silent" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const file = readFileSync(out);
    const manifest = JSON.parse(readFileSync(`${out}.manifest.json`, "utf8")) as ExportManifest;
    const archived = await sql<{ project_id: string; request_id: string; content_hash: string; raw: unknown }>`
      select project_id, request_id, content_hash, raw from deepgram_archive.requests
      where created >= ${WEEK.since} and created < ${WEEK.until} order by created, project_id, request_id collate "C"`.execute(f.database.db);
    const lines = file.toString("utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.map((l) => (JSON.parse(l) as { request_id: string }).request_id)).toEqual(archived.rows.map((a) => a.request_id));
    expect(lines.map((l) => JSON.parse(l))).toEqual(archived.rows.map((a) => a.raw));
    // Each line is the stored item's text: its sha256 is the row's content_hash.
    expect(lines.map((l) => sha256(Buffer.from(l, "utf8")))).toEqual(archived.rows.map((a) => a.content_hash));
    const perProject = Object.fromEntries(f.sim.projects().map((p) => [p.project_id, archived.rows.filter((a) => a.project_id === p.project_id).length]));
    expect(manifest).toEqual({
      file: "week.jsonl",
      format: "jsonl",
      rows: archived.rows.length,
      bytes: file.length,
      sha256: sha256(file),
      range: { since: WEEK.since.toISOString(), until: WEEK.until.toISOString(), given: { since: "2026-11-12", until: "2026-11-18" }, timezone: "UTC" },
      projects: Object.keys(perProject).sort(),
      rowsByProject: Object.fromEntries(Object.entries(perProject).sort()),
      projectFilter: null,
      schemaVersion: expect.stringMatching(/^000\d_/),
      exportedAt: expect.any(String),
      order: "created, project_id, request_id",
      notes: expect.stringContaining("content_hash"),
    });
    expect(manifest.schemaVersion! >= "0003_compliance").toBe(true);
    // ... which is every record Deepgram lists for that week.
    const truth = f.sim.projects().flatMap((p) => f.sim.truth(p.project_id)).filter((t) => Date.parse(t.created) >= WEEK.since.getTime() && Date.parse(t.created) < WEEK.until.getTime());
    expect(archived.rows.map((a) => a.request_id).sort()).toEqual(truth.map((t) => t.request_id).sort());
    expect(r.stdout).toContain(`exported ${archived.rows.length} requests`);
    expect(r.stdout).toContain(`sha256 ${sha256(file)}`);
  });

  it("exports the typed columns as RFC 4180 CSV with a header, NULL apart from empty text", async () => {
    // A row with awkward text, written the only way an operator can: an audited override.
    const [p] = f.sim.projects();
    await f.database.db.transaction().execute(async (trx) => {
      await sql`select set_config('deepgram_archive.writer', 'admin-override: csv quoting fixture', true)`.execute(trx);
      await sql`
        insert into deepgram_archive.requests (project_id, request_id, created, path, endpoint, accessor, status, tags, raw, content_hash, first_archived_at, last_changed_at, usd)
        values (${p!.project_id}, 'awkward', '2026-11-13T01:02:03.456789Z', ${'/v1/listen?a=1,b="2"\r\nnext'}, 'listen', '', 'succeeded', ${["a, b", 'say "hi"']}, '{"request_id":"awkward"}',
          deepgram_archive.content_hash('{"request_id":"awkward"}'), now(), now(), 0.0000123)`.execute(trx);
    });
    const out = join(dir, "week.csv");
    const manifest = await exportArchive(f.database.db, {
      ...WEEK,
      given: { since: "2026-11-12", until: "2026-11-18" },
      timezone: "UTC",
      format: "csv",
      projectIds: [p!.project_id],
      out,
      now: f.clock.now(),
    });
    const records = parseCsv(readFileSync(out, "utf8"));
    expect(records[0]).toEqual([...CSV_COLUMNS]);
    const ids = await sql<{ request_id: string }>`
      select request_id from deepgram_archive.requests where project_id = ${p!.project_id} and created >= ${WEEK.since} and created < ${WEEK.until}
      order by created, request_id collate "C"`.execute(f.database.db);
    expect(records.slice(1).map((r) => r[1])).toEqual(ids.rows.map((r) => r.request_id));
    expect([manifest.rows, manifest.projects, manifest.projectFilter, manifest.columns]).toEqual([ids.rows.length, [p!.project_id], [p!.project_id], CSV_COLUMNS]);
    const awkward = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, records.find((r) => r[1] === "awkward")![i]]));
    expect(awkward).toMatchObject({
      created: "2026-11-13T01:02:03.456789Z",
      path: '/v1/listen?a=1,b="2"\r\nnext',
      accessor: "",
      api_key_id: null,
      tags: '["a, b","say \\"hi\\""]',
      usd: "0.0000123",
      completed: null,
    });
    expect((await verifyExportFile(out)).ok).toBe(true);
  });

  it("writes an empty file and a manifest of 0 rows for a range with nothing archived", async () => {
    const out = join(dir, "empty.jsonl");
    const m = await exportArchive(f.database.db, {
      since: new Date("2020-01-01T00:00:00Z"),
      until: new Date("2020-01-02T00:00:00Z"),
      given: { since: "2020-01-01", until: "2020-01-01" },
      timezone: "UTC",
      format: "jsonl",
      projectIds: null,
      out,
      now: f.clock.now(),
    });
    expect([m.rows, m.bytes, m.sha256, m.projects]).toEqual([0, 0, sha256(Buffer.alloc(0)), []]);
    expect(readFileSync(out).length).toBe(0);
  });

  it("export --verify passes on the file and fails with exit 1 once a byte changes", async () => {
    const out = join(dir, "week.jsonl");
    expect(await verifyExportFile(out)).toMatchObject({ ok: true, problems: [] });
    const text = readFileSync(out, "utf8");
    writeFileSync(out, text.replace('"request_id": "', '"request_id": "x'));
    expect(readFileSync(out, "utf8")).not.toBe(text);
    const r = await runCli(["export", "--verify", out], { LOG_LEVEL: "silent" });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILED: .*week\.jsonl does not match .*week\.jsonl\.manifest\.json\n {2}sha256 is [0-9a-f]{64}; the manifest says [0-9a-f]{64}\n/);
  });

  it("never overwrites an export", async () => {
    const config = parseConfig({ DATABASE_URL: f.tdb.url! });
    const out = join(dir, "week.jsonl");
    const attempt = exportCommand(config, { logger: f.logger, clock: f.clock }, { ...WEEK, given: { since: "a", until: "b" }, format: "jsonl", projectIds: null, out });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/already exist/);
    expect(existsSync(`${out}.partial-${process.pid}`)).toBe(false);
  });

  it("quotes CSV fields as RFC 4180 says", () => {
    expect([csvField(null), csvField(""), csvField("plain"), csvField("a,b"), csvField('say "x"'), csvField("l1\nl2"), csvField("cr\r")]).toEqual([
      "",
      '""',
      "plain",
      '"a,b"',
      '"say ""x"""',
      '"l1\nl2"',
      '"cr\r"',
    ]);
    expect(csvRecord(["a", null, ""])).toBe('a,,""\r\n');
  });
});
