import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "../logger.js";

/**
 * One process per embedded data directory. PGlite has no shared-memory lock of its own: two
 * processes on one data directory each run their own Postgres over the same files and silently
 * lose each other's writes. So the directory carries a lock file, created with O_EXCL, naming
 * the process that holds it. A lock whose process is gone (a crash, a kill -9) is taken over
 * with a warning.
 */
export const LOCK_FILE = "archiver.lock";

/** While one process takes over a stale lock, others wait for it instead of racing. */
const TAKEOVER_FILE = "archiver.lock.takeover";
/** A takeover marker this old was left by a process that died mid-takeover. */
const TAKEOVER_STALE_MS = 30_000;
/** A lock file with no readable content yet is being written by its owner: this long at most. */
const UNWRITTEN_GRACE_MS = 10_000;

export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
  command: string;
}

/** Another process uses the embedded database: exit 1, naming it and saying what to do. */
export class DataDirLockedError extends Error {
  override readonly name = "DataDirLockedError";
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | null,
  ) {
    const who = holder
      ? `process ${holder.pid} on ${holder.hostname} (${holder.command || "deepgram-archiver"}, started ${holder.startedAt})`
      : "another process (it is writing its lock file right now)";
    super(
      `The embedded database in ${dataDir} is in use by ${who}. The embedded database serves one process at a time; ` +
        `wait for that one to finish or stop it. To run several processes at once, use a Postgres server (set DATABASE_URL). ` +
        `If no archiver is running, delete ${join(dataDir, LOCK_FILE)}.`,
    );
  }
}

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours; idempotent. */
  release(): void;
}

export interface LockOptions {
  logger: Logger;
  /** Shown to a process that finds the lock taken, e.g. "sync". */
  command?: string;
  /** For tests: is this pid alive? Default: signal 0. */
  isAlive?: (pid: number) => boolean;
}

/** Takes the data directory's lock at once or throws DataDirLockedError; never waits. */
export function lockDataDir(dataDir: string, options: LockOptions): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), command: options.command ?? commandName() };
  const content = JSON.stringify(me) + "\n";
  const isAlive = options.isAlive ?? processAlive;

  if (!tryCreate(path, content)) {
    const found = readHolder(path);
    if (found === "gone") {
      if (!tryCreate(path, content)) throw new DataDirLockedError(dataDir, holderOrNull(readHolder(path)));
    } else if (found === "unwritten" || found.hostname !== me.hostname || (isAlive(found.pid) && !pidReused(found))) {
      throw new DataDirLockedError(dataDir, found === "unwritten" ? null : found);
    } else {
      takeOver(dataDir, path, found, content);
      options.logger.warn(
        { dataDir, previous: found },
        `took over a stale lock on the embedded database: process ${found.pid} that held it is gone (it did not shut down cleanly)`,
      );
    }
  }

  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    try {
      if (readFileSync(path, "utf8") === content) unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  };
  // A process that exits without closing the database still frees the directory.
  process.on("exit", release);
  return { path, release };
}

function tryCreate(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readHolder(path: string): LockHolder | "gone" | "unwritten" {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(path, "utf8");
    ageMs = Date.now() - statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw err;
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === "number" && typeof h.hostname === "string") {
      return { pid: h.pid, hostname: h.hostname, startedAt: String(h.startedAt ?? "?"), command: String(h.command ?? "") };
    }
  } catch {
    // Fall through: unreadable content.
  }
  // Empty or torn content: its writer may be between open and write. Old garbage is stale.
  return ageMs < UNWRITTEN_GRACE_MS ? "unwritten" : { pid: -1, hostname: hostname(), startedAt: "?", command: "" };
}

function holderOrNull(h: LockHolder | "gone" | "unwritten"): LockHolder | null {
  return typeof h === "object" ? h : null;
}

/**
 * Replaces a stale lock. Two processes can find the same stale lock at once; a takeover marker
 * (O_EXCL again) lets one of them through, and it re-reads the lock under the marker so it never
 * removes a lock that someone else has just taken.
 */
function takeOver(dataDir: string, path: string, stale: LockHolder, content: string): void {
  const marker = join(dataDir, TAKEOVER_FILE);
  if (!tryCreate(marker, String(process.pid))) {
    let age = 0;
    try {
      age = Date.now() - statSync(marker).mtimeMs;
    } catch {
      // Gone in between: the other process finished its takeover; treat the lock as taken.
    }
    if (age < TAKEOVER_STALE_MS) throw new DataDirLockedError(dataDir, holderOrNull(readHolder(path)));
    unlinkSync(marker);
    if (!tryCreate(marker, String(process.pid))) throw new DataDirLockedError(dataDir, holderOrNull(readHolder(path)));
  }
  try {
    const now = readHolder(path);
    const same = typeof now === "object" ? now.pid === stale.pid && now.startedAt === stale.startedAt : now === "gone";
    if (!same) throw new DataDirLockedError(dataDir, holderOrNull(now));
    if (now !== "gone") unlinkSync(path);
    if (!tryCreate(path, content)) throw new DataDirLockedError(dataDir, holderOrNull(readHolder(path)));
  } finally {
    try {
      unlinkSync(marker);
    } catch {
      // Nothing to clean.
    }
  }
}

/**
 * On Linux a pid can be reused after its process died: a process with that pid that started
 * after the lock was written is not the holder.
 */
function pidReused(holder: LockHolder): boolean {
  const lockedAt = Date.parse(holder.startedAt);
  if (process.platform !== "linux" || Number.isNaN(lockedAt)) return false;
  try {
    const stat = readFileSync(`/proc/${holder.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    if (!Number.isFinite(startTicks) || !Number.isFinite(bootSeconds)) return false;
    // USER_HZ is 100 on every Linux Node supports; allow a few seconds of slack for rounding.
    return bootSeconds * 1000 + startTicks * 10 > lockedAt + 5_000;
  } catch {
    return false;
  }
}

/** "deepgram-archiver sync", for the message another process sees. */
function commandName(): string {
  const sub = process.argv[2];
  return sub && /^[a-z-]+$/.test(sub) ? `deepgram-archiver ${sub}` : "deepgram-archiver";
}

function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
