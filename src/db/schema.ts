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
  /** sha256 of the JSON text raw was parsed from (migrations/0004); null when not known. */
  source_sha256: Buffer | null;
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

/** Dates as 'YYYY-MM-DD' text: select them with ::text (pg would turn a date into a local-midnight Date). */
type Day = ColumnType<string, string, string>;

export interface VendorDailyUsageTable {
  project_id: string;
  day: Day;
  hours: number;
  total_hours: number | null;
  requests: string;
  tokens_in: string | null;
  tokens_out: string | null;
  tts_characters: string | null;
  tts_requests: string | null;
  raw: unknown;
  fetched_at: Timestamp;
  changed_at: Timestamp;
}

export interface ApiKeysTable {
  project_id: string;
  api_key_id: string;
  comment: string | null;
  scopes: string[];
  tags: string[];
  created: Timestamp | null;
  expiration_date: Timestamp | null;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
  deleted_at: Timestamp | null;
}

export interface DailyUsageTable {
  project_id: string;
  day: Day;
  api_key_id: string;
  endpoint: string;
  method: string;
  model: string;
  status: "succeeded" | "failed" | "pending";
  requests: string;
  hours: number;
  total_hours: number;
  usd: string;
}

/** A view: one row per (project_id, day) summing daily_usage. */
export interface DailyUsageTotalsView {
  project_id: string;
  day: Day;
  requests: string;
  succeeded: string;
  failed: string;
  pending: string;
  hours: number;
  total_hours: number;
  usd: string;
}

export interface DailyUsageByTagTable {
  project_id: string;
  day: Day;
  tag: string;
  requests: string;
  hours: number;
  total_hours: number;
  usd: string;
}

export interface SummarySettingsTable {
  id: Generated<boolean>;
  timezone: string;
  recorded_at: Timestamp;
  rebuilt_at: Timestamp | null;
}

export interface ReconciliationTable {
  project_id: string;
  day: Day;
  status: "ok" | "mismatch" | "partial" | "no_vendor_data";
  archived_requests: string;
  vendor_requests: string | null;
  archived_hours: number;
  vendor_hours: number | null;
  checked_at: Timestamp;
  flagged_at: Timestamp | null;
  refetch_count: number;
}

/** migrations/0003_compliance: audit log, legal holds and day seals (src/retention/). */
export interface AuditLogTable {
  audit_id: Generated<string>;
  at: Timestamp;
  action: string;
  command: string | null;
  project_id: string | null;
  range_start: Timestamp | null;
  range_end: Timestamp | null;
  rows: string | null;
  actor: Generated<string>;
  detail: Generated<unknown>;
}

export interface LegalHoldsTable {
  hold_id: Generated<string>;
  project_id: string | null;
  since: Timestamp;
  until: Timestamp;
  reason: string;
  created_at: Timestamp;
  created_by: Generated<string>;
  released_at: Timestamp | null;
  release_reason: string | null;
  released_by: string | null;
}

export interface DaySealsTable {
  project_id: string;
  /** UTC day. */
  day: ColumnType<string, string, string>;
  row_count: number;
  digest: string;
  sealed_at: Timestamp;
  first_sealed_at: Timestamp;
  reseals: Generated<number>;
  checked_at: Timestamp;
  audit_watermark: string;
}

export interface SealedRowsTable {
  project_id: string;
  day: ColumnType<string, string, string>;
  request_id: string;
  created: Timestamp;
  content_hash: string;
  columns_hash: string;
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
  "deepgram_archive.vendor_daily_usage": VendorDailyUsageTable;
  "deepgram_archive.api_keys": ApiKeysTable;
  "deepgram_archive.daily_usage": DailyUsageTable;
  "deepgram_archive.daily_usage_totals": DailyUsageTotalsView;
  "deepgram_archive.daily_usage_by_tag": DailyUsageByTagTable;
  "deepgram_archive.summary_settings": SummarySettingsTable;
  "deepgram_archive.reconciliation": ReconciliationTable;
  "deepgram_archive.audit_log": AuditLogTable;
  "deepgram_archive.legal_holds": LegalHoldsTable;
  "deepgram_archive.day_seals": DaySealsTable;
  "deepgram_archive.sealed_rows": SealedRowsTable;
}
