import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { sql } from "kysely";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { addHold } from "../../src/retention/index.js";

/** Plain psql against the test database, as an analyst would run it. */
function psql(url: string, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("psql", [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", script], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

// One-day windows: these tests need few rows, and a first pass plans the whole 90-day horizon.
const DAY_MS = 86_400_000;

const fingerprint = sql<{ n: number; h: string }>`
  select count(*)::int as n, md5(string_agg(request_id || content_hash || coalesce(usd::text, ''), ',' order by request_id)) as h
  from deepgram_archive.requests`;

describe("the archive refuses ad-hoc edits from plain psql", () => {
  let f: ArchiveFixture;
  let url: string;
  let victim: { project_id: string; request_id: string; created: Date };
  let before: { n: number; h: string };

  beforeAll(async () => {
    f = await createArchiveFixture("edit_protection", { sim: { days: 5, perDay: 24 }, settings: { windowMs: DAY_MS } });
    expect((await f.sync()).outcome).toBe("succeeded");
    url = f.tdb.url!;
    victim = (await sql<typeof victim>`select project_id, request_id, created from deepgram_archive.requests order by created limit 1`.execute(f.database.db)).rows[0]!;
    before = (await fingerprint.execute(f.database.db)).rows[0]!;
    const now = f.clock.now();
    await addHold(f.database.db, { projectId: null, since: new Date(now.getTime() - DAY_MS), until: now, reason: "audit", now, command: "test" });
  });
  afterAll(async () => {
    await f?.close();
  });

  it.each([
    ["update", "update deepgram_archive.requests set usd = 0", "UPDATE"],
    ["delete", "delete from deepgram_archive.requests where status = 'failed'", "DELETE"],
    ["truncate", "truncate deepgram_archive.requests", "TRUNCATE"],
    ["truncate of a partition created by a pass", "truncate deepgram_archive.requests_2026_11", "TRUNCATE"],
    ["insert", "insert into deepgram_archive.requests (project_id, request_id, created, endpoint, status, raw, content_hash, first_archived_at, last_changed_at) values ('p', 'forged', now(), 'listen', 'succeeded', '{}', 'x', now(), now())", "INSERT"],
    ["truncate of the versions", "truncate deepgram_archive.request_versions", "TRUNCATE"],
    ["truncate of the audit log", "truncate deepgram_archive.audit_log", "TRUNCATE"],
    ["delete of a seal", "delete from deepgram_archive.day_seals", "DELETE"],
    ["update of a legal hold", "update deepgram_archive.legal_holds set released_at = now(), release_reason = 'x'", "UPDATE"],
  ])("refuses an %s", async (_name, statement, op) => {
    const r = await psql(url, statement);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`ERROR:  deepgram_archive\\.\\w+ refuses ${op} outside the archiver: archived data is append-only`));
    expect(r.stderr).toContain("HINT:  To change archived data deliberately, an administrator runs the statement in a transaction that first calls select set_config('deepgram_archive.writer', 'admin-override: <reason>', true)");
    expect((await fingerprint.execute(f.database.db)).rows[0]).toEqual(before);
  });

  it("lets a documented admin override through and writes it to audit_log", async () => {
    const r = await psql(
      url,
      `begin; select set_config('deepgram_archive.writer', 'admin-override: ticket OPS-42 wrong usd', true);
       update deepgram_archive.requests set usd = 9.99 where request_id = '${victim.request_id}'; commit;`,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const usd = await sql<{ usd: string }>`select usd::text from deepgram_archive.requests where request_id = ${victim.request_id}`.execute(f.database.db);
    expect(usd.rows[0]!.usd).toBe("9.99");
    const audit = await sql<{ action: string; command: string; actor: string; project_id: string; range_start: Date; rows: string; detail: Record<string, unknown> }>`
      select action, command, actor, project_id, range_start, rows, detail from deepgram_archive.audit_log where action = 'override'`.execute(f.database.db);
    expect(audit.rows).toHaveLength(1);
    const a = audit.rows[0]!;
    expect([a.action, a.command, a.actor, a.project_id, a.range_start.toISOString(), a.rows]).toEqual([
      "override",
      "psql",
      "postgres",
      victim.project_id,
      victim.created.toISOString(),
      "1",
    ]);
    expect(a.detail).toMatchObject({ operation: "UPDATE", reason: "ticket OPS-42 wrong usd", request_id: victim.request_id, table: "requests_2026_11", new: { usd: 9.99 } });
    expect((a.detail.old as { usd: number }).usd).not.toBe(9.99);
    // The audit log itself is append-only, override or not.
    const erase = await psql(url, "delete from deepgram_archive.audit_log");
    expect(erase.code).toBe(1);
    expect(erase.stderr).toContain("deepgram_archive.audit_log refuses DELETE outside the archiver");
  });

  it("refuses an override without a reason, and a marker that is not the archiver's", async () => {
    const noReason = await psql(url, `begin; select set_config('deepgram_archive.writer', 'admin-override:  ', true); delete from deepgram_archive.requests; commit;`);
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain("an override of deepgram_archive.requests_");
    const guess = await psql(url, `begin; select set_config('deepgram_archive.writer', 'me', true); delete from deepgram_archive.requests; commit;`);
    expect(guess.code).toBe(1);
    expect(guess.stderr).toContain("refuses DELETE outside the archiver");
  });

  it("gives deepgram_archive_reader read access and nothing more", async () => {
    const read = await psql(url, "set role deepgram_archive_reader; select count(*) from deepgram_archive.requests; select count(*) from deepgram_archive.requests_2026_11;");
    expect(read.stderr).toBe("");
    expect(read.code).toBe(0);
    const write = await psql(url, "set role deepgram_archive_reader; select set_config('deepgram_archive.writer', 'archiver', false); delete from deepgram_archive.requests;");
    expect(write.code).toBe(1);
    expect(write.stderr).toContain("permission denied for table requests");
  });

  it("still archives: a later pass that changes rows writes them", async () => {
    f.sim.control.mutate(20);
    f.clock.advance(3_600_000);
    const report = await f.sync();
    expect(report.outcome).toBe("succeeded");
    expect(report.projects.reduce((a, p) => a + p.updated, 0)).toBeGreaterThan(0);
  });
});
