import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";

/** Which management endpoint a call hit; the label used by events, logs and errors. */
export type Endpoint = "projects" | "requests" | "request" | "usage" | "keys";

export interface DeepgramClientOptions {
  /** API root, e.g. https://api.deepgram.com; trailing slashes are tolerated. */
  baseUrl: string;
  /** Sent as `Authorization: Token <apiKey>`; never appears in an error, log line or event. */
  apiKey: string;
  /** Per HTTP attempt, covering headers and body read. Default 30_000. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 6. */
  retries?: number;
  /** Backoff base. Default 500. */
  minDelayMs?: number;
  /** Cap for computed backoff and for an honoured Retry-After. Default 30_000. */
  maxDelayMs?: number;
  logger?: Logger;
  onEvent?: (e: ClientEvent) => void;
  /** Default "deepgram-archiver/0.1". */
  userAgent?: string;
  /**
   * Turns an HTTP-date `Retry-After` into a delay. Default: the system clock. Tests that run the
   * simulator on a manual clock pass the same clock so the date means what the server meant.
   */
  clock?: Clock;
}

export type ClientEvent =
  | { type: "response"; endpoint: Endpoint; status: number; ms: number; attempt: number }
  /** `attempt` is the attempt that failed; the next one is `attempt + 1`. */
  | { type: "retry"; endpoint: Endpoint; attempt: number; delayMs: number; reason: string };

/** A request log item exactly as received (all unknown fields kept), with the two fields we rely on checked. */
export type RequestItem = Record<string, unknown> & { request_id: string; created: string };

/** An item the listing returned that cannot be archived as a row; kept for the caller to store and report. */
export interface RejectedItem {
  raw: unknown;
  reason: string;
}

export interface RequestsPage {
  /** The page echoed by the server (the requested page when it echoes none). */
  page: number;
  /** The limit echoed by the server (the requested limit when it echoes none). */
  limit: number;
  items: RequestItem[];
  rejected: RejectedItem[];
  /** Length of `requests` as received; end of listing is `rawCount < limit`. */
  rawCount: number;
  /**
   * For each of `items`, its own UTF-8 JSON text as received, or null where Postgres would not
   * read those bytes as jsonb to the values JSON.parse read; null or absent when the page was
   * read from its text (see parseRequestsPageBytes).
   */
  itemBytes?: Array<Buffer | null> | null;
}

export interface ProjectInfo {
  project_id: string;
  name: string | null;
  raw: Record<string, unknown>;
}

export interface UsageDayResult {
  start: string;
  end: string;
  requests: number;
  hours: number;
  total_hours: number | null;
  tokens_in: number | null;
  tokens_out: number | null;
  tts_characters: number | null;
  tts_requests: number | null;
  raw: Record<string, unknown>;
}

export interface UsageResponse {
  start?: string;
  end?: string;
  results: UsageDayResult[];
  raw: Record<string, unknown>;
}

/** A key's labels for joins. The owning member's email is personal data and is dropped on purpose. */
export interface ApiKeyInfo {
  api_key_id: string;
  comment: string | null;
  scopes: string[];
  tags: string[];
  created: string | null;
  expiration_date: string | null;
}

export interface RequestsQuery {
  start: Date;
  end: Date;
  page: number;
  limit: number;
}

export interface UsageQuery {
  /** YYYY-MM-DD, inclusive. */
  start: string;
  /** YYYY-MM-DD, inclusive. */
  end: string;
}

export interface DeepgramClient {
  listProjects(signal?: AbortSignal): Promise<ProjectInfo[]>;
  listRequests(projectId: string, q: RequestsQuery, signal?: AbortSignal): Promise<RequestsPage>;
  /** Accepts both the flat item and the `{request: {...}}` wrapper the spec describes. */
  getRequest(projectId: string, requestId: string, signal?: AbortSignal): Promise<RequestItem>;
  getUsage(projectId: string, q: UsageQuery, signal?: AbortSignal): Promise<UsageResponse>;
  listKeys(projectId: string, signal?: AbortSignal): Promise<ApiKeyInfo[]>;
}
