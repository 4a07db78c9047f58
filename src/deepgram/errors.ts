import type { Endpoint } from "./types.js";

/** Where a failed call was aimed; every Deepgram error carries it so logs and the CLI can say which project. */
export interface CallSite {
  endpoint: Endpoint;
  /** Path and query as sent (no secret is ever in either). */
  path: string;
  projectId: string | null;
}

export interface HttpErrorDetails extends CallSite {
  status: number;
  errCode: string | null;
  errMessage: string | null;
  requestId: string | null;
  retryAfterMs: number | null;
}

/** Deepgram answered with a non-2xx status. */
export class DeepgramHttpError extends Error {
  override readonly name = "DeepgramHttpError";
  readonly status: number;
  readonly endpoint: Endpoint;
  readonly path: string;
  readonly projectId: string | null;
  readonly errCode: string | null;
  readonly errMessage: string | null;
  readonly requestId: string | null;
  readonly retryAfterMs: number | null;

  constructor(d: HttpErrorDetails) {
    super(describeHttpFailure(d));
    this.status = d.status;
    this.endpoint = d.endpoint;
    this.path = d.path;
    this.projectId = d.projectId;
    this.errCode = d.errCode;
    this.errMessage = d.errMessage;
    this.requestId = d.requestId;
    this.retryAfterMs = d.retryAfterMs;
  }
}

/** No usable HTTP response: refused, reset, DNS failure, or the per-attempt timeout. */
export class DeepgramNetworkError extends Error {
  override readonly name = "DeepgramNetworkError";
  readonly endpoint: Endpoint;
  readonly path: string;
  readonly projectId: string | null;
  readonly timeout: boolean;
  /** System or undici code (ECONNRESET, ENOTFOUND, UND_ERR_SOCKET, ...) when known. */
  readonly code: string | null;

  constructor(site: CallSite & { timeout: boolean; code: string | null; detail: string }, options?: { cause?: unknown }) {
    super(
      site.timeout
        ? `Deepgram did not answer GET ${site.path} in time (${site.detail}); retried automatically. Check the network or raise the timeout.`
        : `Cannot reach Deepgram for GET ${site.path}: ${site.detail}. Check DEEPGRAM_BASE_URL and the network; retried automatically.`,
      options,
    );
    this.endpoint = site.endpoint;
    this.path = site.path;
    this.projectId = site.projectId;
    this.timeout = site.timeout;
    this.code = site.code;
  }
}

/**
 * A 2xx whose body we cannot use. "truncated" (connection dropped mid-body) and "unparsable" (not
 * JSON) are transient in practice and retried; "shape" (valid JSON, wrong structure) will not fix
 * itself by asking again, so it fails at once and says so.
 */
export type ResponseProblem = "truncated" | "unparsable" | "shape";

export class DeepgramResponseError extends Error {
  override readonly name = "DeepgramResponseError";
  readonly endpoint: Endpoint;
  readonly path: string;
  readonly projectId: string | null;
  readonly problem: ResponseProblem;
  readonly status: number;
  readonly requestId: string | null;

  constructor(
    site: CallSite & { problem: ResponseProblem; status: number; requestId: string | null; detail: string },
    options?: { cause?: unknown },
  ) {
    const what = site.problem === "shape" ? "a body of an unexpected shape" : `a ${site.problem} body`;
    super(`Deepgram sent ${what} for GET ${site.path} (status ${site.status}): ${site.detail}${supportSuffix(site.requestId)}`, options);
    this.endpoint = site.endpoint;
    this.path = site.path;
    this.projectId = site.projectId;
    this.problem = site.problem;
    this.status = site.status;
    this.requestId = site.requestId;
  }
}

export type DeepgramError = DeepgramHttpError | DeepgramNetworkError | DeepgramResponseError;

/** The retry table. Anything not listed (4xx, a caller's abort, a bug) fails at once. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof DeepgramHttpError) return err.status === 429 || err.status === 408 || err.status >= 500;
  if (err instanceof DeepgramNetworkError) return true;
  if (err instanceof DeepgramResponseError) return err.problem !== "shape";
  return false;
}

/** The key or the project is wrong: retrying or moving to the next window cannot help this project. */
export function isProjectFatal(err: unknown): boolean {
  return err instanceof DeepgramHttpError && (err.status === 401 || err.status === 403 || err.status === 404);
}

/** Short label for events and logs: "429", "503", "timeout", "network: ECONNRESET", "bad body". */
export function retryReason(err: unknown): string {
  if (err instanceof DeepgramHttpError) return String(err.status);
  if (err instanceof DeepgramNetworkError) return err.timeout ? "timeout" : `network: ${err.code ?? "error"}`;
  if (err instanceof DeepgramResponseError) return "bad body";
  return err instanceof Error ? err.name : "unknown";
}

/**
 * `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past
 * means "now". Anything else is ignored (null) so the computed backoff applies.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Date.parse also accepts bare numbers and ISO fragments; an HTTP date (any of RFC 9110's three forms but asctime) starts with a weekday and a comma.
  if (!/^[A-Za-z]{3,9},/.test(v)) return null;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

function supportSuffix(requestId: string | null): string {
  return requestId ? ` [dg-request-id ${requestId}]` : "";
}

function describeHttpFailure(d: HttpErrorDetails): string {
  const detail = [`${d.status}${d.errCode ? ` ${d.errCode}` : ""}`, d.errMessage].filter(Boolean).join(": ");
  const target = d.projectId ? `project ${d.projectId}` : "the project list (GET /v1/projects)";
  const scope = d.endpoint === "keys" ? "keys:read" : "usage:read";
  const support = supportSuffix(d.requestId);
  switch (d.status) {
    case 401:
      return `Deepgram refused the API key (${detail}) for ${target}. Check DEEPGRAM_API_KEY; the key needs a project role with ${scope} (member or above).${support}`;
    case 403:
      return `Deepgram says the API key lacks permission for ${target} (${detail}). Give the key the member role (or above) in that project so it has ${scope}.${support}`;
    case 404:
      return d.endpoint === "request"
        ? `Deepgram has no such request in ${target} (${detail}): GET ${d.path}. The log may have aged out of the 90-day window.${support}`
        : `Deepgram says ${target} was not found (${detail}). Check DEEPGRAM_PROJECT_IDS.${support}`;
    case 429:
      return `Deepgram rate-limited GET ${d.path} (${detail}); it is retried with backoff. Lower ARCHIVER_CONCURRENCY if this persists.${support}`;
    case 400:
      return `Deepgram rejected the query GET ${d.path} (${detail}). This is likely a deepgram-archiver bug; please report it with the dg-request-id.${support}`;
    default:
      return d.status >= 500
        ? `Deepgram had a server error on GET ${d.path} (${detail}); it is retried automatically. If it persists, check https://status.deepgram.com.${support}`
        : `Deepgram answered GET ${d.path} with ${detail}.${support}`;
  }
}
