import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { validate as validateCron } from "node-cron";
import { IANAZone } from "luxon";
import { ConfigError } from "./errors.js";
import { parseDurationMs } from "./duration.js";

/** Deepgram deletes request logs after this long; nothing older can be fetched. */
export const HORIZON_MS = 90 * 86_400_000;

export type Retention = { kind: "forever" } | { kind: "duration"; ms: number; text: string };

export interface Config {
  /** null only for commands that never call Deepgram. */
  readonly apiKey: string | null;
  readonly baseUrl: string;
  readonly projectIds: readonly string[] | null;
  /** null = embedded database in dataDir. */
  readonly databaseUrl: string | null;
  /** The database named for people: host, port and database, never the password. */
  readonly databaseTarget: string;
  readonly dataDir: string;
  readonly schedule: string;
  readonly timezone: string;
  readonly windowMs: number;
  readonly settleMs: number;
  readonly rescanMs: number;
  readonly concurrency: number;
  readonly requestTimeoutMs: number;
  readonly usageSinceDays: number;
  readonly retention: Retention;
  /** ARCHIVER_ROLLUP_RETENTION: how long rollups, vendor usage and reconciliation are kept (default forever). */
  readonly rollupRetention: Retention;
  readonly httpHost: string;
  readonly httpPort: number;
  /** Bearer token that protects `/` and `/metrics` of `run`; null = open (health checks are always open). */
  readonly httpToken: string | null;
  readonly logLevel: string;
}

export interface ParseConfigOptions {
  /** The command talks to Deepgram, so a key is required. */
  requireApiKey?: boolean;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * Reads the environment once into a frozen object. Every problem is collected and reported
 * together in one ConfigError (exit 2); a bad value is never replaced by a default.
 */
export function parseConfig(env: Record<string, string | undefined>, options: ParseConfigOptions = {}): Config {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };

  const apiKey = readApiKey(get("DEEPGRAM_API_KEY"), get("DEEPGRAM_API_KEY_FILE"), problems);
  if (apiKey === null && options.requireApiKey) {
    problems.push("DEEPGRAM_API_KEY (or DEEPGRAM_API_KEY_FILE) is required: a Deepgram key whose project role can read usage (member or above).");
  }

  const baseUrl = parseBaseUrl(get("DEEPGRAM_BASE_URL") ?? "https://api.deepgram.com", problems);

  let projectIds: string[] | null = null;
  const rawIds = get("DEEPGRAM_PROJECT_IDS");
  if (rawIds !== undefined) {
    projectIds = [...new Set(rawIds.split(",").map((s) => s.trim()).filter(Boolean))];
    const bad = projectIds.filter((id) => !/^[A-Za-z0-9_-]+$/.test(id));
    if (projectIds.length === 0 || bad.length > 0) {
      problems.push(`DEEPGRAM_PROJECT_IDS must be comma-separated project ids; got ${JSON.stringify(rawIds)}.`);
    }
  }

  const databaseUrl = get("DATABASE_URL") ?? null;
  const dataDir = resolve(get("ARCHIVER_DATA_DIR") ?? "./data");
  let databaseTarget = `embedded database in ${dataDir}`;
  if (databaseUrl !== null) {
    const target = describeDatabaseUrl(databaseUrl);
    if (target === null) {
      problems.push("DATABASE_URL must be a postgres:// or postgresql:// connection string (postgres://user:password@host:5432/database).");
    } else databaseTarget = target;
  }

  const schedule = get("ARCHIVER_SCHEDULE") ?? "*/15 * * * *";
  if (!validateCron(schedule)) {
    problems.push(`ARCHIVER_SCHEDULE ${JSON.stringify(schedule)} is not a valid cron expression (5 or 6 fields, e.g. "*/15 * * * *").`);
  }

  const timezone = get("ARCHIVER_TIMEZONE") ?? "UTC";
  if (!IANAZone.isValidZone(timezone)) {
    problems.push(`ARCHIVER_TIMEZONE ${JSON.stringify(timezone)} is not an IANA time zone (e.g. "UTC", "Europe/Berlin", "America/New_York").`);
  }

  const windowMs = duration(get, "ARCHIVER_WINDOW", "1h", problems, { min: 60_000, max: 86_400_000 });
  // Window bounds are multiples of it, and Deepgram's listing takes whole-second times only.
  if (windowMs % 1_000 !== 0) problems.push(`ARCHIVER_WINDOW ${JSON.stringify(get("ARCHIVER_WINDOW"))} must be whole seconds (e.g. "1h" or "90s"): Deepgram's request listing takes whole-second times.`);
  const settleMs = duration(get, "ARCHIVER_SETTLE", "15m", problems, { min: 0, max: 86_400_000 });
  const rescanMs = duration(get, "ARCHIVER_RESCAN", "72h", problems, { min: 0, max: HORIZON_MS });
  const requestTimeoutMs = duration(get, "ARCHIVER_REQUEST_TIMEOUT", "30s", problems, { min: 1_000, max: 600_000 });
  const concurrency = integer(get, "ARCHIVER_CONCURRENCY", 4, problems, { min: 1, max: 64 });
  const usageSinceDays = integer(get, "ARCHIVER_USAGE_SINCE", 365, problems, { min: 1, max: 3650 }, "days");
  const httpPort = integer(get, "ARCHIVER_HTTP_PORT", 9464, problems, { min: 0, max: 65535 });
  const httpHost = get("ARCHIVER_HTTP_HOST") ?? "127.0.0.1";
  const httpToken = get("ARCHIVER_HTTP_TOKEN") ?? null;
  if (httpToken !== null && (httpToken.length < 16 || /\s/.test(httpToken))) {
    problems.push("ARCHIVER_HTTP_TOKEN must be at least 16 characters without white space (e.g. the output of `openssl rand -hex 24`).");
  }

  const retention = retentionSetting(get, "ARCHIVER_RETENTION", problems);
  const rollupRetention = retentionSetting(get, "ARCHIVER_ROLLUP_RETENTION", problems);

  const logLevel = get("LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}; got ${JSON.stringify(logLevel)}.`);

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    apiKey,
    baseUrl,
    projectIds: projectIds === null ? null : Object.freeze(projectIds),
    databaseUrl,
    databaseTarget,
    dataDir,
    schedule,
    timezone,
    windowMs,
    settleMs,
    rescanMs,
    concurrency,
    requestTimeoutMs,
    usageSinceDays,
    retention,
    rollupRetention,
    httpHost,
    httpPort,
    httpToken,
    logLevel,
  });
}

function readApiKey(direct: string | undefined, file: string | undefined, problems: string[]): string | null {
  if (direct !== undefined && file !== undefined) {
    problems.push("Set DEEPGRAM_API_KEY or DEEPGRAM_API_KEY_FILE, not both.");
    return null;
  }
  if (file !== undefined) {
    try {
      // The file's own line ends go; white space inside is a second line or a pasted label, which
      // no key has and no HTTP header can carry.
      const key = readFileSync(file, "utf8").trim();
      const problem = key === "" ? "is empty." : /\s/.test(key) ? "holds white space inside the key; the file must hold the key alone." : null;
      if (problem === null) return key;
      problems.push(`DEEPGRAM_API_KEY_FILE ${file} ${problem}`);
      return null;
    } catch (err) {
      problems.push(`DEEPGRAM_API_KEY_FILE ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"}).`);
      return null;
    }
  }
  if (direct !== undefined && /\s/.test(direct)) {
    problems.push("DEEPGRAM_API_KEY contains white space; paste the key alone.");
    return null;
  }
  return direct ?? null;
}

function parseBaseUrl(text: string, problems: string[]): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push(`DEEPGRAM_BASE_URL ${JSON.stringify(text)} is not a URL (e.g. https://api.deepgram.com).`);
    return text;
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname))) {
    problems.push(
      `DEEPGRAM_BASE_URL must use https:// (plain http is allowed only for a loopback host such as 127.0.0.1); got ${url.protocol}//${url.host}. The key would travel in clear text.`,
    );
  }
  if (url.username || url.password || url.search) {
    problems.push("DEEPGRAM_BASE_URL must not carry credentials or a query string.");
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/**
 * Where DATABASE_URL points, for messages: "host:port/database", or "database on socket
 * dir/.s.PGSQL.port" for a Unix-domain socket; null when the text is not a Postgres URL. Read as
 * node-postgres reads it: `host` and `port` query parameters win over the URL's own, a host that
 * starts with "/" (percent-encoded in the URL, or in `?host=`) is a socket directory, and
 * `postgres://user@/database?host=/run/postgresql` (a user and no host) is a URL. Never the password.
 * (Not pg-connection-string's `parse`: it reads the files `sslcert`, `sslkey` and `sslrootcert` name.)
 */
export function describeDatabaseUrl(text: string): string | null {
  try {
    const parsed = parseUrlAllowingNoHost(text);
    if (parsed === null) return null;
    const { url, hostname } = parsed;
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return null;
    const db = decodeURIComponent(url.pathname.replace(/^\//, "")) || "(default database)";
    const host = url.searchParams.get("host") || decodeURIComponent(hostname) || "localhost";
    const port = url.searchParams.get("port") || url.port || "5432";
    return host.startsWith("/") ? `${db} on socket ${host.replace(/\/+$/, "")}/.s.PGSQL.${port}` : `${host}:${port}/${db}`;
  } catch {
    return null;
  }
}

/** WHATWG URL refuses a user without a host ("user@/db"); libpq and node-postgres accept it. */
function parseUrlAllowingNoHost(text: string): { url: URL; hostname: string } | null {
  try {
    const url = new URL(text);
    return { url, hostname: url.hostname };
  } catch {
    try {
      return { url: new URL(text.replace("@/", "@placeholder/")), hostname: "" };
    } catch {
      return null;
    }
  }
}

function retentionSetting(get: Getter, name: string, problems: string[]): Retention {
  const text = get(name) ?? "forever";
  if (text === "forever") return { kind: "forever" };
  const ms = parseRetentionMs(text);
  if (ms === null || ms < 86_400_000) {
    problems.push(`${name} ${JSON.stringify(text)} must be "forever" or a length of at least a day such as "400d" or "7y".`);
    return { kind: "forever" };
  }
  return { kind: "duration", ms, text };
}

/** Retention also accepts years: "7y" means 7 x 365 days. */
function parseRetentionMs(text: string): number | null {
  const years = /^(\d+)y$/.exec(text);
  if (years) return Number(years[1]) * 365 * 86_400_000;
  return parseDurationMs(text);
}

type Getter = (name: string) => string | undefined;

function duration(get: Getter, name: string, fallback: string, problems: string[], range: { min: number; max: number }): number {
  const text = get(name) ?? fallback;
  const ms = parseDurationMs(text);
  if (ms === null || ms < range.min || ms > range.max) {
    problems.push(`${name} ${JSON.stringify(text)} must be a duration like "15m", "1h" or "72h" between ${describeMs(range.min)} and ${describeMs(range.max)}.`);
    return parseDurationMs(fallback)!;
  }
  return ms;
}

function integer(get: Getter, name: string, fallback: number, problems: string[], range: { min: number; max: number }, unit = ""): number {
  const text = get(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < range.min || n > range.max) {
    problems.push(`${name} must be a whole number from ${range.min} to ${range.max}${unit ? ` (${unit})` : ""}; got ${JSON.stringify(text)}.`);
    return fallback;
  }
  return n;
}

function describeMs(ms: number): string {
  if (ms === 0) return "0";
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
