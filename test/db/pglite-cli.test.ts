import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { sql } from "kysely";
import { systemClock } from "../../src/clock.js";
import { silentLogger } from "../../src/logger.js";
import { openPglite } from "../../src/db/pglite.js";
import { LOCK_FILE } from "../../src/db/data-dir-lock.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { ROOT, collect, type CliResult } from "../helpers/cli.js";
import { NO_PROBLEMS, diffArchive, problemCounts, settledVisible } from "../helpers/compare.js";

/**
 * A small team's first run: nothing configured but the key and the API's address, so the
 * archive goes to the embedded database in ./data. A second process on the same data
 * directory is refused at once and the first finishes exact. (6h windows keep the test short;
 * the hand-measured run in the closing note uses the 1h default.)
 */
const KEY = "dg-embedded-key-7d2e4a9c1b";
const WINDOW_MS = 6 * 3_600_000;
const SETTLE_MS = 15 * 60_000;

let sim: Simulator;
let cwd: string;
let env: Record<string, string>;

/** The CLI from source, run in `cwd` (so ./data is the test's own folder), with only `env` besides PATH and HOME. */
function cli(args: string[]): ChildProcess {
  const tsx = pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
  return spawn(process.execPath, ["--import", tsx, join(ROOT, "src", "cli.ts"), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  sim = createSimulator({ clock: systemClock, apiKey: KEY, seed: 23, projects: 1, days: 95, perDay: 48 });
  await sim.start();
  cwd = mkdtempSync(join(tmpdir(), "dga-embedded-"));
  env = { DEEPGRAM_API_KEY: KEY, DEEPGRAM_BASE_URL: sim.url, ARCHIVER_WINDOW: "6h" };
});
afterAll(async () => {
  await sim?.stop();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

describe("sync with only a key and an API address", () => {
  let first: CliResult;
  let second: CliResult;
  let firstPid: number;
  let startedAt: Date;

  it("archives into ./data, and a second sync on the same data directory is refused at once with exit 1", async () => {
    startedAt = new Date();
    // Slow pages hold the first pass open, whatever the machine's speed, until the second has been refused.
    sim.control.setLatency(1_000);
    const child = cli(["sync"]);
    firstPid = child.pid!;
    let firstRunning = true;
    child.on("close", () => (firstRunning = false));
    const firstDone = collect(child, Date.now(), 300_000);
    await until(() => existsSync(join(cwd, "data", LOCK_FILE)), 120_000, "the first sync to lock ./data");
    second = await collect(cli(["sync"]), Date.now(), 120_000);
    // The refusal came while the first was still at work.
    expect(firstRunning).toBe(true);
    sim.control.setLatency(0);
    first = await firstDone;
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`embedded database in ${cwd}/data is in use by process ${firstPid} `));
    expect(second.stderr).toMatch(/serves one process at a time/);
    expect(second.stdout).toBe("");
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/pass #1 succeeded/);
    const info = first.stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; dataDir?: string }).find((l) => l.dataDir);
    expect(info?.level).toBe(30);
    expect(info?.msg).toContain(`embedded database (PGlite) in ${cwd}/data`);
    expect(info?.msg).toContain("suits one archiver process");
    expect(existsSync(join(cwd, "data", LOCK_FILE))).toBe(false);
  }, 400_000);

  it("leaves an exact archive, every window proven complete", async () => {
    const database = await openPglite({ dataDir: join(cwd, "data"), logger: silentLogger(), mustExist: true });
    try {
      for (const p of sim.projects()) {
        const expected = settledVisible(sim.visibleTruth(p.project_id), startedAt, WINDOW_MS, SETTLE_MS);
        const d = await diffArchive(database.db, p.project_id, expected, sim.truth(p.project_id));
        expect(problemCounts(d)).toEqual(NO_PROBLEMS);
        expect(d.compared).toBeGreaterThan(89 * 48);
      }
      const open = await sql<{ n: number }>`select count(*)::int as n from deepgram_archive.sync_windows where state <> 'complete'`.execute(database.db);
      expect(open.rows[0]!.n).toBe(0);
    } finally {
      await database.close();
    }
  });

  it("prints status as JSON", async () => {
    const r = await collect(cli(["status", "--json"]), Date.now(), 120_000);
    expect(r.code, r.stderr).toBe(0);
    const status = JSON.parse(r.stdout) as { projects: Array<{ projectId: string; rows: number; windowsComplete: number; windowsClosed: number }> };
    expect(status.projects.map((p) => p.projectId).sort()).toEqual(sim.projects().map((p) => p.project_id).sort());
    for (const p of status.projects) {
      expect(p.rows).toBeGreaterThan(89 * 48);
      expect(p.windowsComplete).toBeGreaterThan(0);
    }
  });
});
