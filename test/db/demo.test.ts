import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, runCliInProcess, type CliResult } from "../helpers/cli.js";

/**
 * `demo` as a newcomer runs it: no key, no database, one command. The full-size demo (2 projects,
 * 120 days, 1,500 requests a day) is timed by `npm run soak` (test/soak/demo-full.soak.ts); CI runs a smaller one.
 */
let dataDir: string;
let run: CliResult;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "dga-demo-"));
  run = await runCli(["demo", "--days", "100", "--per-day", "60"], { ARCHIVER_DATA_DIR: dataDir }, 300_000);
}, 320_000);
afterAll(() => {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("deepgram-archiver demo", () => {
  it("archives a simulated account into a fresh embedded database and reports what happened, with exit 0", () => {
    expect(run.code, run.stderr).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/Pass succeeded: [\d,]+ request logs in 180 windows, [\d,]+ API calls, \d+ injected faults .*, \d+ retries\./);
    expect(out).toMatch(/Time [\d.]+ s: simulator [\d.]+ s, new database [\d.]+ s, request logs [\d.]+ s .* usage \+ reconcile \+ rollups \+ seals [\d.]+ s/);
    // The status table, the top keys with their comments, and the reconciliation.
    expect(out).toMatch(/Status\n {2}Acme .*\n {4}archived +\d+ requests/);
    expect(out).toMatch(/windows +90 of 90 closed windows complete/);
    expect(out).toMatch(/Top 5 keys by cost, last 30 days[^\n]*\n.*project +\| +key +\| +comment +\| requests \| +hours \| +usd/);
    expect(out.split("Top 5 keys")[1]!.split("Reconciliation")[0]!.split("\n").filter((l) => / \| /.test(l))).toHaveLength(6);
    expect(out).toMatch(/Reconciliation: archived logs against Deepgram's own daily usage/);
    expect(out).toMatch(/: 8\d ok, \d+ partial, 0 mismatch, 0 without usage data/);
    expect(out).toMatch(/partial +\d{4}-\d\d-\d\d \.\. \d{4}-\d\d-\d\d \(\d+ days\): at or before Deepgram's 90-day horizon/);
    // Three queries to try next, each with the exact command.
    const commands = [...out.matchAll(/^ {2}ARCHIVER_DATA_DIR=(\S+) npx deepgram-archiver sql "(.+)"$/gm)];
    expect(commands.length).toBeGreaterThanOrEqual(3);
    expect(commands[0]![1]).toBe(join(dataDir, "demo"));
  });

  it("leaves a database the printed queries run against, and frees it", async () => {
    expect(readdirSync(join(dataDir, "demo")).sort()).toEqual(["DEMO-DATABASE.txt", "pglite"]);
    const commands = [...run.stdout.matchAll(/^ {2}ARCHIVER_DATA_DIR=(\S+) npx deepgram-archiver sql "(.+)"$/gm)].slice(0, 3);
    for (const [, dir, query] of commands) {
      const r = await runCliInProcess(["sql", query!.replace(/\\(["\\$`])/g, "$1")], { ARCHIVER_DATA_DIR: dir! });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\(\d+ rows?\)\n$/);
    }
  });

  it("replaces its own database on the next run, and never a folder it did not make", async () => {
    const again = await runCliInProcess(["demo", "--days", "3", "--per-day", "20", "--projects", "1"], { ARCHIVER_DATA_DIR: dataDir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/a simulated Deepgram account \(1 projects, 3 days/);
    const count = await runCliInProcess(["sql", "select count(distinct project_id) as projects from deepgram_archive.requests", "--csv"], { ARCHIVER_DATA_DIR: join(dataDir, "demo") });
    expect(count.stdout).toBe("projects\r\n1\r\n");

    const foreign = join(dataDir, "other");
    mkdirSync(join(foreign, "demo"), { recursive: true });
    writeFileSync(join(foreign, "demo", "precious.txt"), "keep me");
    const refused = await runCliInProcess(["demo", "--days", "3", "--per-day", "20"], { ARCHIVER_DATA_DIR: foreign });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/was not made by the demo/);
    expect(existsSync(join(foreign, "demo", "precious.txt"))).toBe(true);
  });

  it("reports bad options together with exit 2", async () => {
    const r = await runCliInProcess(["demo", "--days", "0", "--faults", "2"], { ARCHIVER_DATA_DIR: dataDir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--days must be a whole number/);
    expect(r.stderr).toMatch(/--faults must be a number/);
  });
});
