import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { collect } from "../helpers/cli.js";
import { packProject } from "../helpers/pack.js";

/**
 * The install path a user takes without the repository: the packed package into an empty
 * folder with production dependencies only, then `deepgram-archiver demo` through npm's bin link.
 */
const exec = promisify(execFile);
let work: string;
let bin: string;

beforeAll(async () => {
  const tarball = await packProject();
  work = mkdtempSync(join(tmpdir(), "dga-install-"));
  await exec("npm", ["install", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline", tarball], {
    cwd: work,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 300_000,
  });
  bin = join(work, "node_modules", ".bin", "deepgram-archiver");
}, 600_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string>) =>
  collect(spawn(bin, args, { cwd: work, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, stdio: ["ignore", "pipe", "pipe"] }), Date.now(), 300_000);

describe("the packed package installed into an empty folder", () => {
  it("holds the built code and migrations and only production dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(work, "node_modules", "deepgram-archiver", "package.json"), "utf8")) as { version: string };
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(existsSync(join(work, "node_modules", "deepgram-archiver", "dist", "src", "cli.js"))).toBe(true);
    expect(existsSync(join(work, "node_modules", "deepgram-archiver", "dist", "migrations", "index.js"))).toBe(true);
    expect(existsSync(join(work, "node_modules", "deepgram-archiver", "src"))).toBe(false);
    for (const dev of ["vitest", "typescript", "tsx", "testcontainers"]) expect(existsSync(join(work, "node_modules", dev)), dev).toBe(false);
    expect(existsSync(join(work, "node_modules", "@electric-sql", "pglite"))).toBe(true);
  });

  it("runs the demo through its bin link with no key and no database, then answers a query", async () => {
    const dataDir = join(work, "data");
    const demo = await run(["demo", "--days", "30", "--per-day", "100"], { ARCHIVER_DATA_DIR: dataDir });
    expect(demo.code, demo.stderr).toBe(0);
    const count = (re: RegExp) => Number(re.exec(demo.stdout)?.[1]?.replaceAll(",", "") ?? NaN);
    const archived = count(/Pass succeeded: ([\d,]+) request logs/);
    const listed = count(/Deepgram lists ([\d,]+) of the/);
    // The simulator's counts are random around --per-day, and the newest records may be unsettled.
    expect(archived).toBeGreaterThan(0.9 * listed);
    expect(archived).toBeLessThanOrEqual(listed);
    expect(listed).toBeGreaterThan(0.9 * 2 * 30 * 100);
    expect(demo.stdout).toMatch(/Top 5 keys by cost/);
    const q = await run(["sql", "select count(*) as n from deepgram_archive.requests", "--json"], { ARCHIVER_DATA_DIR: join(dataDir, "demo") });
    expect(q.code, q.stderr).toBe(0);
    expect(Number((JSON.parse(q.stdout) as Array<{ n: string }>)[0]!.n)).toBe(archived);
  });
});
