import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { silentLogger } from "../../src/logger.js";
import { openEngineDatabase, type EngineDatabase } from "../helpers/engines.js";
import { runCliInProcess as runCli } from "../helpers/cli.js";
import type { LegalHold } from "../../src/retention/index.js";

let tdb: EngineDatabase;
let env: Record<string, string>;
const cli = (args: string[]) => runCli(args, env);

beforeAll(async () => {
  tdb = await openEngineDatabase("postgres", "holds", silentLogger(), 2);
  env = { DATABASE_URL: tdb.url!, ARCHIVER_TIMEZONE: "Europe/Berlin", LOG_LEVEL: "silent" };
});
afterAll(async () => {
  await tdb?.drop();
});

describe("legal holds on the command line", () => {
  it("hold add takes inclusive days in ARCHIVER_TIMEZONE and records the hold and its audit entry", async () => {
    const r = await cli(["hold", "add", "--since", "2026-09-21", "--until", "2026-10-01", "--reason", "Case 2026-117 (Acme v. Us)", "--project", "proj-a"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hold 1 placed: proj-a, requests created 2026-09-20T22:00:00.000Z .. 2026-10-01T22:00:00.000Z (reason: Case 2026-117 (Acme v. Us))\n");
    const audit = await sql<{ action: string; command: string; project_id: string; range_start: Date; range_end: Date; detail: unknown }>`
      select action, command, project_id, range_start, range_end, detail from deepgram_archive.audit_log`.execute(tdb.database.db);
    expect(audit.rows.map((a) => [a.action, a.command, a.project_id, a.range_start.toISOString(), a.range_end.toISOString(), a.detail])).toEqual([
      ["hold.add", "hold add", "proj-a", "2026-09-20T22:00:00.000Z", "2026-10-01T22:00:00.000Z", { holdId: "1", reason: "Case 2026-117 (Acme v. Us)" }],
    ]);
  });

  it("hold list --json shows active holds; release ends one and keeps it as history", async () => {
    const listed = await cli(["hold", "list", "--json"]);
    expect(listed.code).toBe(0);
    const holds = JSON.parse(listed.stdout) as Array<LegalHold & { rows: number }>;
    expect(holds).toEqual([
      {
        holdId: "1",
        projectId: "proj-a",
        since: "2026-09-20T22:00:00.000Z",
        until: "2026-10-01T22:00:00.000Z",
        reason: "Case 2026-117 (Acme v. Us)",
        createdAt: expect.any(String),
        createdBy: "postgres",
        releasedAt: null,
        releaseReason: null,
        releasedBy: null,
        active: true,
        rows: 0,
      },
    ]);

    const released = await cli(["hold", "release", "1", "--reason", "settled"]);
    expect(released.stderr).toBe("");
    expect(released.code).toBe(0);
    expect(released.stdout).toMatch(/^hold 1 released: proj-a/);
    const row = await sql<{ released_at: Date | null; release_reason: string; released_by: string }>`
      select released_at, release_reason, released_by from deepgram_archive.legal_holds where hold_id = 1`.execute(tdb.database.db);
    expect([row.rows[0]!.released_at !== null, row.rows[0]!.release_reason, row.rows[0]!.released_by]).toEqual([true, "settled", "postgres"]);
    const audit = await sql<{ action: string; reason: string }>`
      select action, detail ->> 'reason' as reason from deepgram_archive.audit_log order by audit_id`.execute(tdb.database.db);
    expect(audit.rows).toEqual([
      { action: "hold.add", reason: "Case 2026-117 (Acme v. Us)" },
      { action: "hold.release", reason: "settled" },
    ]);
  });

  it("says why a release cannot happen (exit 1), and lists every usage problem at once (exit 2)", async () => {
    const again = await cli(["hold", "release", "1", "--reason", "twice"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: hold 1 was already released at 20\d\d-/);
    const bad = await cli(["hold", "add", "--since", "2026-02-30", "--until", "yesterday", "--reason", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--since 2026-02-30 is not a calendar date.");
    expect(bad.stderr).toContain('--until "yesterday" must be a date (YYYY-MM-DD) or an ISO timestamp');
    const count = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.legal_holds`.execute(tdb.database.db);
    expect(count.rows[0]!.n).toBe(1);
  });
});
