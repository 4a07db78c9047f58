export interface ProjectReport {
  projectId: string;
  name: string | null;
  /** skipped: another process holds the project's lock. partial: some windows failed. */
  outcome: "succeeded" | "partial" | "failed" | "skipped";
  windowsPlanned: number;
  windowsCompleted: number;
  windowsFailed: number;
  pages: number;
  records: number;
  inserted: number;
  updated: number;
  rejected: number;
  rereads: number;
  gapsRecorded: number;
  error: string | null;
}

export interface SyncReport {
  runId: string;
  outcome: "succeeded" | "partial" | "failed" | "aborted";
  startedAt: Date;
  finishedAt: Date;
  projects: ProjectReport[];
  error: string | null;
}

/** Typed progress events the CLI's progress bar, metrics and tests consume. */
export type SyncEvent =
  | { type: "planned"; windows: number; projects: number }
  | { type: "page"; projectId: string; rows: number; inserted: number; updated: number }
  | { type: "window"; projectId: string; records: number; ok: boolean };
