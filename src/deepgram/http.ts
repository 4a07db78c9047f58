/**
 * One GET against the management API, with per-attempt timeout, classification of every failure
 * into a typed error, and retries with backoff. p-retry counts attempts; the delay is ours so it
 * can honour Retry-After and the caller's AbortSignal.
 */
import { isAscii, isUtf8 } from "node:buffer";
import pRetry from "p-retry";
import { systemClock } from "../clock.js";
import { silentLogger, type Logger } from "../logger.js";
import { BodyShapeError } from "./schemas.js";
import {
  DeepgramHttpError,
  DeepgramNetworkError,
  DeepgramResponseError,
  isRetryable,
  parseRetryAfter,
  retryReason,
  type CallSite,
} from "./errors.js";
import type { ClientEvent, DeepgramClientOptions } from "./types.js";

export interface GetJsonCall<T> extends CallSite {
  /** Checks the parsed JSON; throws BodyShapeError when the structure is wrong. */
  parse: (json: unknown) => T;
  /**
   * Reads a successful body from its bytes instead, when they are valid UTF-8 (no byte order
   * mark), giving what `parse` of JSON.parse of the text would. Answers undefined to leave the
   * body to `parse`; a SyntaxError does too (the text is then parsed whole, for the error's message).
   */
  parseBytes?: (utf8: Buffer) => T | undefined;
  signal?: AbortSignal | undefined;
}

export type GetJson = <T>(call: GetJsonCall<T>) => Promise<T>;

const ERROR_TEXT_MAX = 300;

export function createGetJson(options: DeepgramClientOptions): GetJson {
  const base = checkBaseUrl(options.baseUrl);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 6;
  const minDelayMs = options.minDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const clock = options.clock ?? systemClock;
  const log: Logger = (options.logger ?? silentLogger()).child({ component: "deepgram" });
  const headers = {
    Authorization: `Token ${options.apiKey}`,
    Accept: "application/json",
    "User-Agent": options.userAgent ?? "deepgram-archiver/0.1",
  };

  // Server text ends up in error messages and logs; if it ever echoed the key, it must not travel on.
  const scrub = (text: string): string => (options.apiKey ? text.split(options.apiKey).join("[redacted]") : text);

  const emit = (e: ClientEvent): void => {
    try {
      options.onEvent?.(e);
    } catch (err) {
      // A broken metrics hook must not fail an archiving pass.
      log.warn({ err }, "deepgram onEvent hook threw");
    }
  };

  // Redirects are not followed: the management API does not redirect, and following one could carry
  // the key to another host. A 3xx surfaces as a DeepgramHttpError naming the status instead.
  async function attempt<T>(call: GetJsonCall<T>, attemptNumber: number): Promise<T> {
    const site: CallSite = { endpoint: call.endpoint, path: call.path, projectId: call.projectId };
    const scope = attemptSignal(call.signal, timeoutMs);
    const started = performance.now();
    let status = 0;
    let requestId: string | null = null;
    let bytes: Buffer;
    let res: Response;
    let stage: "headers" | "body" = "headers";
    try {
      res = await fetch(base + call.path, { method: "GET", headers, signal: scope.signal, redirect: "manual" });
      status = res.status;
      requestId = res.headers.get("dg-request-id");
      stage = "body";
      // Read under the same signal, so a stalled body hits the timeout and a cut one is caught here.
      bytes = withoutBom(Buffer.from(await res.arrayBuffer()));
    } catch (err) {
      if (call.signal?.aborted) throw call.signal.reason;
      if (scope.timedOut()) {
        throw new DeepgramNetworkError({ ...site, timeout: true, code: "ETIMEDOUT", detail: `no complete response within ${timeoutMs} ms` }, { cause: err });
      }
      if (stage === "body" && status >= 200 && status < 300) {
        throw new DeepgramResponseError({ ...site, problem: "truncated", status, requestId, detail: scrub(causeText(err)) }, { cause: err });
      }
      const code = causeCode(err);
      throw new DeepgramNetworkError({ ...site, timeout: false, code, detail: scrub(causeText(err)) }, { cause: err });
    } finally {
      scope.dispose();
    }
    const ms = Math.round(performance.now() - started);
    log.debug({ method: "GET", path: call.path, status, ms, attempt: attemptNumber, dgRequestId: requestId }, "deepgram request");
    emit({ type: "response", endpoint: call.endpoint, status, ms, attempt: attemptNumber });

    if (status >= 200 && status < 300 && call.parseBytes) {
      const parseBytes = call.parseBytes;
      const page = shaped(site, status, requestId, () => readFromBytes(bytes, parseBytes));
      if (page !== undefined) return page;
    }
    const text = decodeText(bytes);
    if (status < 200 || status >= 300) throw httpError(site, res, text, requestId);

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      const detail = text.trim() === "" ? "empty body" : scrub(`${(err as Error).message}; starts with ${JSON.stringify(text.slice(0, 80))}`);
      throw new DeepgramResponseError({ ...site, problem: "unparsable", status, requestId, detail }, { cause: err });
    }
    return shaped(site, status, requestId, () => call.parse(body));
  }

  /** `read`'s result, with a BodyShapeError turned into the response error that names the call. */
  function shaped<T>(site: CallSite, status: number, requestId: string | null, read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof BodyShapeError)) throw err;
      throw new DeepgramResponseError({ ...site, problem: "shape", status, requestId, detail: err.message }, { cause: err });
    }
  }

  function httpError(site: CallSite, res: Response, text: string, headerRequestId: string | null): DeepgramHttpError {
    // Error bodies come in three forms (plain text, legacy {err_code, err_msg}, modern {category, message}).
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      // plain text body: handled below
    }
    const str = (v: unknown): string | null => (typeof v === "string" && v.trim() !== "" ? scrub(v.trim()) : null);
    const trimmedText = text.trim();
    const parsedJson = Object.keys(json).length > 0;
    return new DeepgramHttpError({
      ...site,
      status: res.status,
      errCode: str(json.err_code) ?? str(json.error_code) ?? str(json.category),
      errMessage:
        str(json.err_msg) ?? str(json.message) ?? (parsedJson || trimmedText === "" ? null : scrub(trimmedText.slice(0, ERROR_TEXT_MAX))),
      requestId: headerRequestId ?? str(json.request_id),
      retryAfterMs: parseRetryAfter(res.headers.get("retry-after"), clock.now().getTime()),
    });
  }

  /** Full jitter in [50%, 100%] of the exponential step, so parallel windows do not retry in lockstep. */
  function delayFor(err: unknown, attemptNumber: number): number {
    if (err instanceof DeepgramHttpError && err.retryAfterMs !== null) return Math.min(err.retryAfterMs, maxDelayMs);
    const step = Math.min(maxDelayMs, minDelayMs * 2 ** (attemptNumber - 1));
    return Math.round(step * (0.5 + Math.random() * 0.5));
  }

  return function getJson<T>(call: GetJsonCall<T>): Promise<T> {
    return pRetry((n) => attempt(call, n), {
      retries,
      minTimeout: 0,
      factor: 1,
      signal: call.signal,
      onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
        // Throwing here ends p-retry at once with this value: the caller's own abort reason.
        if (call.signal?.aborted) throw call.signal.reason;
        // p-retry calls this before deciding; only wait when another attempt will really follow.
        if (!isRetryable(error) || retriesLeft <= 0) return;
        const delayMs = delayFor(error, attemptNumber);
        const reason = retryReason(error);
        emit({ type: "retry", endpoint: call.endpoint, attempt: attemptNumber, delayMs, reason });
        log.warn(
          { endpoint: call.endpoint, path: call.path, attempt: attemptNumber, delayMs, reason, retriesLeft, dgRequestId: (error as { requestId?: unknown }).requestId ?? null },
          "deepgram request failed; retrying",
        );
        await sleep(delayMs, call.signal);
      },
      shouldRetry: ({ error }) => isRetryable(error),
    });
  };
}

/**
 * The caller's signal plus this attempt's timeout, covering headers and body. Built by hand rather
 * than with AbortSignal.any: on Node 20 every any() registers a dependant on the caller's signal
 * that is never removed, and a service passes one long-lived shutdown signal to every call.
 */
function attemptSignal(caller: AbortSignal | undefined, timeoutMs: number) {
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort(new DOMException(`no response within ${timeoutMs} ms`, "TimeoutError"));
  }, timeoutMs);
  const onAbort = (): void => ctrl.abort(caller?.reason);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ctrl.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onAbort);
    },
  };
}

/** A malformed base URL is configuration, not a network blip: say so once instead of retrying it. */
function checkBaseUrl(raw: string): string {
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash) {
    throw new RangeError(`Deepgram base URL ${JSON.stringify(raw)} is not an http(s) URL without query; check DEEPGRAM_BASE_URL`);
  }
  return raw.replace(/\/+$/, "");
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A successful body (after withoutBom) read by `parseBytes` when it is valid UTF-8; undefined
 * where it is not, where `parseBytes` leaves it to the text, or where it throws a SyntaxError (the
 * text is then parsed whole, for the error's message).
 */
export function readFromBytes<T>(bytes: Buffer, parseBytes: (utf8: Buffer) => T | undefined): T | undefined {
  if (!isUtf8(bytes)) return undefined;
  try {
    return parseBytes(bytes);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** The body without a leading UTF-8 byte order mark, as `Response.text()` drops it. */
export function withoutBom(bytes: Buffer): Buffer {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
}

/**
 * UTF-8 text of a body (after withoutBom), as `Response.text()` gives it (invalid bytes replaced),
 * but through Buffer: undici's TextDecoder path took about 6% of a backfill's CPU. A body of ASCII
 * only is the same text read as Latin-1, which copies bytes instead of decoding them.
 */
export function decodeText(bytes: Buffer): string {
  return isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
}

/** fetch wraps the real failure: TypeError("fetch failed") → cause {code: ECONNREFUSED} or an undici SocketError. */
function causeCode(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return null;
}

function causeText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      parts.push(typeof code === "string" && !e.message.includes(code) ? `${e.message} (${code})` : e.message);
    }
  }
  return parts.length > 0 ? parts.join(": ") : String(err);
}
