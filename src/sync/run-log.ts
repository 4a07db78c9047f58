import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { SyncReport } from "./report.js";

export async function startRun(db: Kysely<Database>, command: string, startedAt: Date): Promise<string> {
  const r = await sql<{ run_id: string }>`
    insert into deepgram_archive.sync_runs (command, started_at, outcome) values (${command}, ${startedAt}, 'running')
    returning run_id::text`.execute(db);
  return r.rows[0]!.run_id;
}

export async function finishRun(db: Kysely<Database>, report: SyncReport): Promise<void> {
  const sum = (f: (p: SyncReport["projects"][number]) => number) => report.projects.reduce((a, p) => a + f(p), 0);
  await sql`
    update deepgram_archive.sync_runs set
      finished_at = ${report.finishedAt}, outcome = ${report.outcome}, projects = ${report.projects.length},
      windows_planned = ${sum((p) => p.windowsPlanned)}, windows_completed = ${sum((p) => p.windowsCompleted)},
      pages = ${sum((p) => p.pages)}, records_seen = ${sum((p) => p.records)}, inserted = ${sum((p) => p.inserted)},
      updated = ${sum((p) => p.updated)}, rejected = ${sum((p) => p.rejected)}, error = ${report.error},
      details = ${JSON.stringify({ projects: report.projects })}::jsonb
    where run_id = ${report.runId}::bigint`.execute(db);
}
