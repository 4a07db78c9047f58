import type { SummaryReport } from "../summary/summarizer.js";
import type { ReconcileSummary } from "../usage/pass-steps.js";

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
  /** Deepgram /usage days received, and how many were new or changed. */
  usageDays: number;
  usageDaysChanged: number;
  /** Keys listed by Deepgram; null when they could not be read. */
  keys: number | null;
  error: string | null;
}

export interface SyncReport {
  runId: string;
  outcome: "succeeded" | "partial" | "failed" | "aborted";
  startedAt: Date;
  finishedAt: Date;
  projects: ProjectReport[];
  error: string | null;
  /** The rollups built at the end of the pass (null when the pass did not get that far). */
  summary?: SummaryReport | null;
  /** Reconciliation of the days that could have changed (null when the pass did not get that far). */
  reconciliation?: ReconcileSummary | null;
}

/** Typed progress events the CLI's progress bar, metrics and tests consume. */
export type SyncEvent =
  | { type: "planned"; windows: number; projects: number }
  | { type: "page"; projectId: string; rows: number; inserted: number; updated: number }
  | { type: "window"; projectId: string; records: number; ok: boolean };
