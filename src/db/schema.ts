import type { ColumnType, Generated } from "kysely";

/** Kysely's view of schema deepgram_archive (see migrations/). Numeric and bigint columns arrive as strings from pg. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface ProjectsTable {
  project_id: string;
  name: string | null;
  archive_start: Timestamp | null;
  accounted_until: Timestamp | null;
  first_seen_at: Generated<Timestamp>;
  last_seen_at: Generated<Timestamp>;
  raw: unknown;
}

export interface RequestsTable {
  project_id: string;
  request_id: string;
  created: Timestamp;
  path: string | null;
  endpoint: string;
  api_key_id: string | null;
  accessor: string | null;
  deployment: string | null;
  method: string | null;
  code: number | null;
  status: "succeeded" | "failed" | "pending";
  completed: Timestamp | null;
  duration_seconds: number | null;
  total_audio_seconds: number | null;
  usd: string | null;
  channels: number | null;
  streams: number | null;
  models: string[];
  tags: string[];
  features: string[];
  callback_code: number | null;
  raw: unknown;
  content_hash: string;
  first_archived_at: Timestamp;
  last_changed_at: Timestamp;
}

export interface RequestVersionsTable {
  version_id: Generated<string>;
  project_id: string;
  request_id: string;
  created: Timestamp;
  raw: unknown;
  content_hash: string;
  valid_from: Timestamp;
  superseded_at: Timestamp;
}

export interface DirtyDaysTable {
  project_id: string;
  day: ColumnType<string, string, string>;
  marked_at: Generated<Timestamp>;
}

export interface SyncWindowsTable {
  project_id: string;
  window_start: Timestamp;
  window_end: Timestamp;
  state: "in_progress" | "complete" | "lost";
  parts: number;
  pages: number;
  records: number;
  fetch_count: number;
  pages_fetched_total: number;
  first_fetched_at: Timestamp | null;
  last_fetched_at: Timestamp | null;
  completed_at: Timestamp | null;
  last_error: string | null;
}

export interface SyncRunsTable {
  run_id: Generated<string>;
  command: string;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  outcome: "running" | "succeeded" | "partial" | "failed" | "aborted";
  projects: number;
  windows_planned: number;
  windows_completed: number;
  pages: number;
  records_seen: number;
  inserted: number;
  updated: number;
  rejected: number;
  retries: number;
  error: string | null;
  details: unknown;
}

export interface SyncGapsTable {
  project_id: string;
  gap_start: Timestamp;
  gap_end: Timestamp;
  detected_at: Timestamp;
  reason: string;
}

export interface RejectedItemsTable {
  project_id: string;
  raw_hash: string;
  raw: unknown;
  reason: string;
  window_start: Timestamp | null;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
  seen_count: number;
}

export interface Database {
  "deepgram_archive.projects": ProjectsTable;
  "deepgram_archive.requests": RequestsTable;
  "deepgram_archive.request_versions": RequestVersionsTable;
  "deepgram_archive.dirty_days": DirtyDaysTable;
  "deepgram_archive.sync_windows": SyncWindowsTable;
  "deepgram_archive.sync_runs": SyncRunsTable;
  "deepgram_archive.sync_gaps": SyncGapsTable;
  "deepgram_archive.rejected_items": RejectedItemsTable;
}
