import { sql } from "kysely";
import type { ArchiveDatabase } from "../db/connection.js";
import { formatDuration } from "../duration.js";

const DB_CHECK_TIMEOUT_MS = 3_000;

export interface Readiness {
  ready: boolean;
  reason: string | null;
  database: "ok" | "unreachable";
  lastSuccessAt: string | null;
  lastPass: { outcome: string; finishedAt: string; error: string | null } | null;
  passRunning: boolean;
  /** Two schedule intervals: how old the last successful pass may be. */
  allowedAgeSeconds: number;
}

export interface ReadinessFacts {
  now: Date;
  /** The longest gap between two runs of the schedule. */
  intervalMs: number;
  /** When this process started serving; stands in for the last success until there is one. */
  startedAt: Date;
  lastSuccessAt: Date | null;
  lastPass: { outcome: string; finishedAt: Date; error: string | null } | null;
  passStartedAt: Date | null;
  /** null when the database answered, else what went wrong. */
  databaseProblem: string | null;
  databaseTarget: string;
}

/** How long a process may go without a successful pass: two schedule intervals. */
export const allowedPassAgeMs = (intervalMs: number): number => 2 * intervalMs;

/**
 * Ready: the database answers and a pass succeeded within the last two schedule intervals (a
 * fresh process gets two intervals from its start). A failed pass alone does not make a process
 * unready, a run of them does; a scheduler that stopped ticking does too.
 */
export function assessReadiness(f: ReadinessFacts): Readiness {
  const allowedMs = allowedPassAgeMs(f.intervalMs);
  const base = {
    lastSuccessAt: f.lastSuccessAt?.toISOString() ?? null,
    lastPass: f.lastPass ? { outcome: f.lastPass.outcome, finishedAt: f.lastPass.finishedAt.toISOString(), error: f.lastPass.error } : null,
    passRunning: f.passStartedAt !== null,
    allowedAgeSeconds: allowedMs / 1000,
  };
  if (f.databaseProblem !== null) {
    return { ready: false, reason: `the database ${f.databaseTarget} does not answer: ${f.databaseProblem}`, database: "unreachable", ...base };
  }
  const age = f.now.getTime() - (f.lastSuccessAt ?? f.startedAt).getTime();
  if (age <= allowedMs) return { ready: true, reason: null, database: "ok", ...base };
  const limit = `two schedule intervals are ${formatDuration(allowedMs)}`;
  let reason = f.lastSuccessAt
    ? `no pass has succeeded for ${formatDuration(age)} (${limit})`
    : `no pass has succeeded since the service started ${formatDuration(age)} ago (${limit})`;
  if (f.lastPass && f.lastPass.outcome !== "succeeded") reason += `; the last pass ${f.lastPass.outcome}${f.lastPass.error ? `: ${f.lastPass.error}` : ""}`;
  if (f.passStartedAt) reason += `; a pass is running since ${f.passStartedAt.toISOString()}`;
  return { ready: false, reason, database: "ok", ...base };
}

/** `select 1` within 3 s: null when it answered, else why not. */
export async function checkDatabase(database: ArchiveDatabase): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(database.db),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${DB_CHECK_TIMEOUT_MS / 1000} s`)), DB_CHECK_TIMEOUT_MS))),
    ]);
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    clearTimeout(timer);
  }
}
