import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { parseConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";

const problemsOf = (env: Record<string, string>, requireApiKey = false): string[] => {
  try {
    parseConfig(env, { requireApiKey });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe("parseConfig", () => {
  it("applies DESIGN's defaults and freezes the result", () => {
    const c = parseConfig({ DEEPGRAM_API_KEY: "k", DATABASE_URL: "postgres://u:p@db:5433/arch" });
    expect(c).toMatchObject({
      apiKey: "k",
      baseUrl: "https://api.deepgram.com",
      projectIds: null,
      databaseTarget: "db:5433/arch",
      schedule: "*/15 * * * *",
      timezone: "UTC",
      windowMs: 3_600_000,
      settleMs: 900_000,
      rescanMs: 72 * 3_600_000,
      concurrency: 4,
      retention: { kind: "forever" },
      httpHost: "127.0.0.1",
      httpPort: 9464,
      logLevel: "info",
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("reports a bad DATABASE_URL, schedule and timezone together", () => {
    const problems = problemsOf({ DATABASE_URL: "mysql://x", ARCHIVER_SCHEDULE: "every hour", ARCHIVER_TIMEZONE: "Mars/Olympus" });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain("DATABASE_URL");
    expect(problems[1]).toContain("ARCHIVER_SCHEDULE");
    expect(problems[2]).toContain("ARCHIVER_TIMEZONE");
  });

  it("reads DATABASE_URL's host as node-postgres does: query parameters, sockets, a user without a host", () => {
    const target = (url: string) => parseConfig({ DATABASE_URL: url }).databaseTarget;
    expect(target("postgres://archiver:secret@/archive?host=/var/run/postgresql")).toBe("archive on socket /var/run/postgresql/.s.PGSQL.5432");
    expect(target("postgresql://archiver@%2Frun%2Fpostgresql:5433/archive")).toBe("archive on socket /run/postgresql/.s.PGSQL.5433");
    expect(target("postgres:///archive?host=/tmp/&port=6000")).toBe("archive on socket /tmp/.s.PGSQL.6000");
    expect(target("postgres://u:secret@db/archive?host=replica&port=6543")).toBe("replica:6543/archive");
    expect(target("postgres://u:secret@/archive")).toBe("localhost:5432/archive");
    expect(problemsOf({ DATABASE_URL: "postgres://u@/archive?host=/run/postgresql" })).toEqual([]);
    expect(problemsOf({ DATABASE_URL: "postgres://u:p@:x/db" })[0]).toMatch(/DATABASE_URL must be/);
  });

  it("requires https for a non-loopback API host but allows http on loopback", () => {
    expect(problemsOf({ DEEPGRAM_BASE_URL: "http://api.deepgram.com" })[0]).toMatch(/must use https/);
    expect(problemsOf({ DEEPGRAM_BASE_URL: "http://127.0.0.1:8787" })).toEqual([]);
    expect(problemsOf({ DEEPGRAM_BASE_URL: "http://localhost:8787" })).toEqual([]);
    expect(problemsOf({ DEEPGRAM_BASE_URL: "http://10.0.0.5:8787" })[0]).toMatch(/must use https/);
  });

  it("requires a key only for commands that call Deepgram", () => {
    expect(problemsOf({}, false)).toEqual([]);
    expect(problemsOf({}, true)[0]).toMatch(/DEEPGRAM_API_KEY/);
  });

  it("reads the key from DEEPGRAM_API_KEY_FILE and never mixes the two sources", () => {
    const dir = mkdtempSync(join(tmpdir(), "dga-"));
    const file = join(dir, "key");
    writeFileSync(file, "secret-from-file\n");
    expect(parseConfig({ DEEPGRAM_API_KEY_FILE: file }).apiKey).toBe("secret-from-file");
    expect(problemsOf({ DEEPGRAM_API_KEY_FILE: file, DEEPGRAM_API_KEY: "x" })[0]).toMatch(/not both/);
    expect(problemsOf({ DEEPGRAM_API_KEY_FILE: join(dir, "missing") })[0]).toMatch(/cannot be read \(ENOENT\)/);
    // Two lines (or a label pasted before the key) are refused at start, as DEEPGRAM_API_KEY with white space is, without echoing the key.
    const twoLines = join(dir, "two-lines");
    writeFileSync(twoLines, "abcd1234\nefgh5678\n");
    expect(problemsOf({ DEEPGRAM_API_KEY_FILE: twoLines })).toEqual([`DEEPGRAM_API_KEY_FILE ${twoLines} holds white space inside the key; the file must hold the key alone.`]);
  });

  it("refuses a window that is not whole seconds, which no request could carry", () => {
    expect(problemsOf({ ARCHIVER_WINDOW: "1m500ms" })).toEqual([
      `ARCHIVER_WINDOW "1m500ms" must be whole seconds (e.g. "1h" or "90s"): Deepgram's request listing takes whole-second times.`,
    ]);
    expect(problemsOf({ ARCHIVER_WINDOW: "90s" })).toEqual([]);
  });

  it("rejects bad durations, numbers and levels instead of falling back", () => {
    const problems = problemsOf({
      ARCHIVER_WINDOW: "30s",
      ARCHIVER_SETTLE: "soon",
      ARCHIVER_CONCURRENCY: "0",
      ARCHIVER_RETENTION: "2h",
      LOG_LEVEL: "loud",
      ARCHIVER_HTTP_PORT: "70000",
    });
    expect(problems.map((p) => p.split(" ")[0])).toEqual([
      "ARCHIVER_WINDOW",
      "ARCHIVER_SETTLE",
      "ARCHIVER_CONCURRENCY",
      "ARCHIVER_HTTP_PORT",
      "ARCHIVER_RETENTION",
      "LOG_LEVEL",
    ]);
  });

  it("parses project ids, retention and six-field schedules", () => {
    const c = parseConfig({ DEEPGRAM_PROJECT_IDS: " a1, b2 ,a1", ARCHIVER_RETENTION: "7y", ARCHIVER_SCHEDULE: "*/10 * * * * *" });
    expect(c.projectIds).toEqual(["a1", "b2"]);
    expect(c.retention).toEqual({ kind: "duration", ms: 7 * 365 * 86_400_000, text: "7y" });
  });

  it("never puts the key in a problem message", () => {
    const problems = problemsOf({ DEEPGRAM_API_KEY: "abc def-secret", ARCHIVER_TIMEZONE: "Nope/Nope" });
    expect(problems.join("\n")).not.toContain("def-secret");
  });
});
