import type { Clock } from "../clock.js";

export interface SimulatorOptions {
  /** Horizon and "now" come from here. */
  clock: Clock;
  /** The accepted key: header `Authorization: Token <apiKey>`. */
  apiKey: string;
  /** Default 1; same seed + options + anchor => byte-identical data. */
  seed?: number;
  /** Default 2; project ids are deterministic UUIDs from the seed. */
  projects?: number;
  /** Default 95; records span [anchor - days, anchor). */
  days?: number;
  /** Default 200; records per 24 h per project (exactly `round(days * perDay)` in total). */
  perDay?: number;
  /** Default clock.now() at construction. */
  anchor?: Date;
  /** Default 0; probability in [0, 1] that a request gets a fault. */
  faultRate?: number;
  /** Default all kinds. */
  faultKinds?: FaultKind[];
  /** How long a 'slow' fault stalls before answering. Default 2000. */
  slowMs?: number;
  /** Added to every /requests page (benchmarks). Default 0. */
  latencyMs?: number;
  /** Default 90. */
  horizonDays?: number;
  /** Default 1000. */
  maxLimit?: number;
  /**
   * Default false: a datetime `end` names that exact instant. True: an `end` without a fraction of
   * a second covers its whole second (`...:00Z` lists records up to `...:00.999999Z`), the other
   * reading of an open question (deepgram-api.md, open question 5).
   */
  endCoversSecond?: boolean;
}

export type FaultKind =
  | "429-retry-after-seconds"
  | "429-retry-after-date"
  | "429-bare"
  | "500"
  | "502"
  | "503"
  | "reset"
  | "slow"
  | "truncated";

export const FAULT_KINDS: readonly FaultKind[] = [
  "429-retry-after-seconds",
  "429-retry-after-date",
  "429-bare",
  "500",
  "502",
  "503",
  "reset",
  "slow",
  "truncated",
];

export interface SimProject {
  project_id: string;
  name: string;
}

export interface SimKey {
  api_key_id: string;
  comment: string;
  scopes: string[];
  tags: string[];
  created: string;
  expiration_date: string | null;
  member: { member_id: string; email: string };
}

export type RequestItem = Record<string, unknown> & { request_id: string; created: string };

export interface UsageTotals {
  requests: number;
  hours: number;
  total_hours: number;
}

export interface Simulator {
  /** Listens (default 127.0.0.1, port 0 = a free port); returns the base URL, e.g. http://127.0.0.1:PORT. */
  start(opts?: { port?: number; host?: string }): Promise<string>;
  /** Closes the server and destroys open sockets; idempotent. */
  stop(): Promise<void>;
  /** Throws if not started. */
  readonly url: string;
  projects(): SimProject[];
  keys(projectId: string): SimKey[];
  /** Every record of the project, current version, newest first (fresh copies, exactly what the API would serve), including those past the horizon. */
  truth(projectId: string): RequestItem[];
  /** Records the API would list right now: created in [now - horizonDays, now]. */
  visibleTruth(projectId: string): RequestItem[];
  /**
   * How many records truth() (or, with `visible`, visibleTruth()) would return, without building
   * them: O(log n). Building a million items costs seconds and gigabytes; counting costs nothing.
   */
  recordCount(projectId: string, opts?: { visible?: boolean }): number;
  /** Daily usage computed from truth (all records, not limited by horizon), UTC days; excludes overReportUsage. */
  usageDay(projectId: string, day: string): UsageTotals;
  control: SimulatorControl;
  stats(): SimulatorStats;
}

export interface SimulatorControl {
  /** Pending records (response null) get a final response; returns their ids. With `leaveLost`, about 10% stay pending forever. */
  completePending(opts?: { projectId?: string; leaveLost?: boolean }): string[];
  /**
   * Changes `count` visible completed records (usd 0 -> real, callback filled, or a tag added);
   * returns their ids. Picked from the last 48 hours first, then from anything visible; with
   * `withinHours`, only from that many hours before now (fewer are changed if fewer are there).
   */
  mutate(count: number, opts?: { projectId?: string; withinHours?: number }): string[];
  /** New records created in the past (default within the last 48 h, never in the future), as if logged late. */
  addLate(count: number, opts?: { projectId?: string; withinHours?: number }): RequestItem[];
  /** Once: the next /requests page with page >= 1 for that project first gets `count` records inside its [start, end]. */
  insertDuringPaging(opts: { projectId: string; count: number }): void;
  setFaultRate(rate: number, kinds?: FaultKind[]): void;
  /** The next requests (any endpoint) get exactly these faults, in order, before random ones. */
  queueFaults(kinds: FaultKind[]): void;
  /** From now on every request gets 401. */
  revokeKey(): void;
  /** Undoes revokeKey. */
  restoreKey(): void;
  /** That project's endpoints answer 403. */
  forbidProject(projectId: string): void;
  /** /usage reports this many more requests that day. */
  overReportUsage(projectId: string, day: string, extraRequests: number): void;
  setLatency(ms: number): void;
  /**
   * Serves `count` visible settled records of a project in a drifted shape, one kind each in turn.
   * Returns the original request ids with the kind applied. "no-request-id" and "bad-created"
   * items cannot be archived as rows; the others must be archived as served. Records are picked
   * created between `withinHours` (default: the whole visible range) and `olderThanHours` (24) ago.
   */
  drift(count: number, opts?: { projectId?: string; kinds?: DriftKind[]; olderThanHours?: number; withinHours?: number }): Array<{ request_id: string; kind: DriftKind }>;
}

export type DriftKind =
  | "no-request-id"
  | "bad-created"
  | "numbers-as-strings"
  | "callback-string"
  | "top-level-code"
  | "response-null"
  | "unknown-fields"
  | "missing-optional";

export const DRIFT_KINDS: readonly DriftKind[] = [
  "no-request-id",
  "bad-created",
  "numbers-as-strings",
  "callback-string",
  "top-level-code",
  "response-null",
  "unknown-fields",
  "missing-optional",
];

export interface PageFetch {
  projectId: string;
  /** The query values as the server decoded them ("" when absent). */
  start: string;
  end: string;
  page: number;
  /** The clamped limit that was echoed. */
  limit: number;
  count: number;
}

export interface SimulatorStats {
  /** All HTTP requests received, including faulted ones. */
  requestsServed: number;
  faultsInjected: Record<FaultKind, number>;
  /** Successful /requests pages. */
  pagesServed: number;
  /** Every successful /requests page, in order. */
  pageFetches: PageFetch[];
}
