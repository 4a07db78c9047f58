import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { systemClock } from "../../src/clock.js";
import { openPostgres, type ArchiveDatabase } from "../../src/db/connection.js";
import { silentLogger } from "../../src/logger.js";
import { createSimulator, type Simulator } from "../../src/simulator/index.js";
import { ROOT } from "../helpers/cli.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { NO_PROBLEMS, diffArchive, problemCounts, settledVisible } from "../helpers/compare.js";
import { installLikeImage, packProject } from "../helpers/pack.js";
import { startRunProcess } from "../helpers/run-process.js";

/**
 * No container engine runs here, so this repeats the image's steps outside Docker: the packed
 * package, production dependencies from the lockfile, `deepgram-archiver` on the PATH as a
 * link to the CLI, the image's environment, the key as a secret file, and its HEALTHCHECK.
 */
const exec = promisify(execFile);
const KEY = "dg-image-key-5a8c0e2b4d";
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");

let sim: Simulator;
let tdb: TestDatabase;
let database: ArchiveDatabase;
let work: string;

beforeAll(async () => {
  sim = createSimulator({ clock: systemClock, apiKey: KEY, seed: 41, projects: 1, days: 20, perDay: 50 });
  await sim.start();
  tdb = await createTestDatabase("image");
  database = await openPostgres({ url: tdb.url, target: tdb.name, logger: silentLogger() });
  work = mkdtempSync(join(tmpdir(), "dga-image-"));
});
afterAll(async () => {
  await database?.close();
  await sim?.stop();
  await tdb?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The final stage's instructions (after the last FROM). */
const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
const healthcheckCmd = (): string[] => JSON.parse(/HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])/.exec(dockerfile)![1]!) as string[];
const imageEnv = (): Record<string, string> => {
  const block = /\nENV ((?:[^\n]*\\\n)*[^\n]*)/.exec(finalStage)![1]!;
  return Object.fromEntries(block.split(/\\\n|\s+(?=[A-Z_]+=)/).map((s) => s.trim()).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as [string, string]));
};

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("the container image", () => {
  it("is multi-stage on a maintained Node LTS slim base, production-only, non-root, with a healthcheck and run as the command", () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-bookworm-slim$/m);
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(finalStage).toContain("npm ci --omit=dev --ignore-scripts");
    expect(finalStage).toMatch(/^USER node$/m);
    expect(imageEnv()).toMatchObject({ ARCHIVER_HTTP_HOST: "0.0.0.0", ARCHIVER_HTTP_PORT: "9464", NODE_OPTIONS: "--max-semi-space-size=32" });
    expect(healthcheckCmd()[0]).toBe("node");
    expect(finalStage).toMatch(/^ENTRYPOINT \["deepgram-archiver"\]$/m);
    expect(finalStage).toMatch(/^CMD \["run"\]$/m);
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8");
    expect(ignore.split("\n")[1]).toBe("**");
    const compose = readFileSync(join(ROOT, "docker-compose.yml"), "utf8");
    expect(compose).toContain("DEEPGRAM_API_KEY_FILE: /run/secrets/deepgram_api_key");
    expect(compose).not.toMatch(/DEEPGRAM_API_KEY:/);
  });

  it("installs from the packed package with production dependencies only, runs, archives and passes its healthcheck", async () => {
    const started = Date.now();
    const tarball = await packProject();
    const app = join(work, "app");
    const cli = await installLikeImage(tarball, app);
    const installMs = Date.now() - started;
    // Production dependencies only, and only what the package publishes.
    for (const dev of ["typescript", "vitest", "tsx", "testcontainers"]) expect(existsSync(join(app, "node_modules", dev))).toBe(false);
    for (const dep of ["pg", "kysely", "node-cron", "prom-client", "pino"]) expect(existsSync(join(app, "node_modules", dep))).toBe(true);
    expect(existsSync(join(app, "test"))).toBe(false);
    expect(existsSync(join(app, "src"))).toBe(false);
    // As the image does: the CLI executable, linked onto the PATH as `deepgram-archiver`.
    chmodSync(cli, 0o755);
    const bin = join(work, "bin");
    mkdirSync(bin);
    symlinkSync(cli, join(bin, "deepgram-archiver"));
    const secret = join(work, "deepgram_api_key");
    writeFileSync(secret, `${KEY}\n`, { mode: 0o600 });

    const port = await freePort();
    const env = {
      ...imageEnv(),
      ARCHIVER_HTTP_PORT: String(port),
      ARCHIVER_DATA_DIR: join(work, "data"),
      DEEPGRAM_API_KEY_FILE: secret,
      DEEPGRAM_BASE_URL: sim.url,
      DATABASE_URL: tdb.url,
      ARCHIVER_WINDOW: "12h",
      // Longer than the simulated history: the daily retention job runs and removes nothing.
      ARCHIVER_RETENTION: "400d",
      PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
    };
    const before = new Date();
    const run = startRunProcess(env, { executable: "deepgram-archiver", cwd: app });
    try {
      const url = await run.url();
      expect(url).toBe(`http://0.0.0.0:${port}`);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      // The image's HEALTHCHECK, verbatim.
      const [cmd, ...args] = healthcheckCmd();
      const check = await exec(cmd === "node" ? process.execPath : cmd!, args, { env: { ARCHIVER_HTTP_PORT: String(port) } }).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
      expect(check).toBe(0);

      await run.waitForLog((l) => l.msg === "pass succeeded", 120_000);
      expect((await run.waitForLog((l) => l.msg === "retention applied", 60_000)).rows).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const [p] = sim.projects();
      const expected = settledVisible(sim.visibleTruth(p!.project_id), before, 12 * 3_600_000, 15 * 60_000);
      const d = await diffArchive(database.db, p!.project_id, expected, sim.truth(p!.project_id));
      expect(problemCounts(d)).toEqual(NO_PROBLEMS);
      expect(d.compared).toBeGreaterThan(0);
      expect(run.lines.map((l) => JSON.stringify(l)).join("\n")).not.toContain(KEY);

      const stop = await run.stop("SIGTERM");
      expect({ code: stop.code, signal: stop.signal }).toEqual({ code: 0, signal: null });
      expect(stop.ms).toBeLessThan(10_000);
      const after = await exec(process.execPath, args, { env: { ARCHIVER_HTTP_PORT: String(port) } }).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
      expect(after).toBe(1);
      console.info(`packed and installed (production dependencies only) in ${installMs} ms; ${d.compared} rows archived; SIGTERM -> exit 0 in ${stop.ms} ms`);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  }, 600_000);
});
