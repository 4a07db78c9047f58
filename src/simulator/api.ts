/**
 * The management API's behaviour, as a function from a request to a response, with no socket in
 * sight: the server decides separately whether to answer it, stall it, cut it or drop it.
 * Error bodies use the three forms Deepgram mixes (legacy err_code, modern category, plain text).
 */
import { insertItems } from "./controls.js";
import type { SimulatorState } from "./state.js";
import type { ProjectStore } from "./store.js";
import { DAY_US, dayOfUs, parseBound, parseDay } from "./time.js";
import type { PageFetch } from "./types.js";

export interface ApiResponse {
  status: number;
  contentType: string;
  body: string;
  /** Extra stall before answering (benchmark latency). */
  delayMs?: number;
  /** Set on a successful /requests page; counted once the page is actually sent. */
  pageFetch?: PageFetch;
}

const MAX_USAGE_DAYS = 3660;

const json = (status: number, value: unknown): ApiResponse => ({ status, contentType: "application/json", body: JSON.stringify(value) });
const text = (status: number, body: string): ApiResponse => ({ status, contentType: "text/plain; charset=utf-8", body });

export function handleApi(state: SimulatorState, method: string, rawUrl: string, authorization: string | undefined, requestId: string): ApiResponse {
  if (!authorized(state, authorization)) return json(401, { err_code: "INVALID_AUTH", err_msg: "Invalid credentials.", request_id: requestId });
  const url = new URL(rawUrl, "http://simulator.invalid");
  const parts = url.pathname.split("/").slice(1);
  if (method !== "GET" || parts[0] !== "v1" || parts[1] !== "projects") return text(404, "Not Found");
  if (parts.length === 2) {
    return json(200, { projects: state.stores.map((s) => ({ ...s.spec.project })) });
  }
  const projectId = safeDecode(parts[2] ?? "");
  const resource = parts[3];
  const known = parts.length === 3 || (parts.length === 4 && ["requests", "usage", "keys"].includes(resource!)) || (parts.length === 5 && resource === "requests");
  if (!known || projectId === "") return text(404, "Not Found");
  const store = state.find(projectId);
  if (!store) return json(404, { category: "NOT_FOUND", message: "A project with the submitted ID cannot be found.", request_id: requestId });
  if (state.forbidden.has(projectId)) return json(403, { category: "UNAUTHORIZED", message: "Insufficient permissions.", request_id: requestId });
  if (parts.length === 3) return json(200, { ...store.spec.project, mip_opt_out: false });
  if (resource === "keys") return listKeys(store);
  if (resource === "usage") return usage(state, store, url.searchParams, requestId);
  if (parts.length === 5) return getRequest(state, store, safeDecode(parts[4]!), requestId);
  return listRequests(state, store, url.searchParams, requestId);
}

/** A malformed escape is just an id that matches nothing. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function authorized(state: SimulatorState, header: string | undefined): boolean {
  if (state.revoked || !header) return false;
  const m = /^token\s+(.+)$/i.exec(header.trim());
  return m !== null && m[1] === state.apiKey;
}

function badQuery(requestId: string, detail: string): ApiResponse {
  return json(400, { err_code: "INVALID_QUERY_PARAMETER", err_msg: `Failed to deserialize query parameters: ${detail}`, request_id: requestId });
}

/** Non-negative integers only, as a strict deserializer of an unsigned field would read them. */
function parseCount(raw: string): number | null {
  return /^\d{1,15}$/.test(raw) ? Number(raw) : null;
}

function listRequests(state: SimulatorState, store: ProjectStore, q: URLSearchParams, requestId: string): ApiResponse {
  const startRaw = q.get("start");
  const endRaw = q.get("end");
  const startUs = startRaw === null ? null : parseBound(startRaw, "start");
  const endUs = endRaw === null ? null : parseBound(endRaw, "end", state.endCoversSecond);
  if (startRaw !== null && startUs === null) return badQuery(requestId, `start: invalid date-time ${JSON.stringify(startRaw)}`);
  if (endRaw !== null && endUs === null) return badQuery(requestId, `end: invalid date-time ${JSON.stringify(endRaw)}`);
  const limitIn = q.get("limit") === null ? 10 : parseCount(q.get("limit")!);
  if (limitIn === null) return badQuery(requestId, `limit: invalid number ${JSON.stringify(q.get("limit"))}`);
  const page = q.get("page") === null ? 0 : parseCount(q.get("page")!);
  if (page === null) return badQuery(requestId, `page: invalid number ${JSON.stringify(q.get("page"))}`);
  const limit = Math.min(state.maxLimit, Math.max(1, limitIn));

  // The horizon clamps the window rather than rejecting it; records not yet created are not listed.
  const [horizonLo, now] = state.visibleBounds();
  const lo = Math.max(horizonLo, startUs ?? -Infinity);
  const hi = Math.min(now, endUs ?? Infinity);
  if (page >= 1) insertWhilePaging(state, store, lo, hi, page, limit);
  const [from, to] = store.range(lo, hi);
  const offset = from + page * limit;
  const requests = offset < to ? store.itemsInRange(offset, Math.min(to, offset + limit)) : [];
  const response = json(200, { page, limit, requests });
  response.delayMs = state.latencyMs;
  response.pageFetch = { projectId: store.spec.project.project_id, start: startRaw ?? "", end: endRaw ?? "", page, limit, count: requests.length };
  return response;
}

/**
 * The "listing moves while paging" case. The new records are newer than the last record the
 * client was already served for this window, so the requested page shifts by exactly `count`
 * (its first records repeat the previous page's last ones) and the new records are never seen
 * unless the window is read again.
 */
function insertWhilePaging(state: SimulatorState, store: ProjectStore, lo: number, hi: number, page: number, limit: number): void {
  const projectId = store.spec.project.project_id;
  const count = state.pagingInserts.get(projectId);
  if (count === undefined || lo > hi) return;
  state.pagingInserts.delete(projectId);
  const [from, to] = store.range(lo, hi);
  const lastServed = Math.min(from + page * limit - 1, to - 1);
  const floor = lastServed >= from ? store.createdAt(lastServed) : lo - 1;
  const instants = Array.from({ length: count }, () => (floor >= hi ? hi : floor + 1 + Math.floor(state.controlRng() * (hi - floor))));
  insertItems(store, instants, state.nowUs());
}

function getRequest(state: SimulatorState, store: ProjectStore, id: string, requestId: string): ApiResponse {
  const serial = store.serialOfId(id);
  const [lo, hi] = state.visibleBounds();
  const created = serial === undefined ? NaN : store.createdOf(serial);
  // Past the horizon or not yet created reads the same as unknown: the API cannot see it.
  if (serial === undefined || !(created >= lo && created <= hi)) {
    return json(404, { category: "NOT_FOUND", message: "A request with the submitted ID cannot be found.", request_id: requestId });
  }
  return json(200, store.item(serial));
}

function listKeys(store: ProjectStore): ApiResponse {
  return json(200, {
    api_keys: store.spec.keys.map((k) => ({
      member: { ...k.member },
      api_key: { api_key_id: k.api_key_id, comment: k.comment, scopes: [...k.scopes], tags: [...k.tags], created: k.created, expiration_date: k.expiration_date },
    })),
  });
}

function usage(state: SimulatorState, store: ProjectStore, q: URLSearchParams, requestId: string): ApiResponse {
  const startRaw = q.get("start");
  const endRaw = q.get("end");
  const endUs = endRaw === null ? parseDay(dayOfUs(state.nowUs())) : parseDay(endRaw);
  if (endUs === null) return badQuery(requestId, `end: invalid date ${JSON.stringify(endRaw)}`);
  const oldest = store.size > 0 ? store.createdAt(store.size - 1) : endUs;
  const startUs = startRaw === null ? parseDay(dayOfUs(oldest)) : parseDay(startRaw);
  if (startUs === null) return badQuery(requestId, `start: invalid date ${JSON.stringify(startRaw)}`);
  if ((endUs - startUs) / DAY_US > MAX_USAGE_DAYS) return badQuery(requestId, `range longer than ${MAX_USAGE_DAYS} days`);
  const results = [];
  for (let d = startUs; d <= endUs; d += DAY_US) {
    const day = dayOfUs(d);
    const u = usageOfDay(state, store, day, true);
    results.push({
      start: day,
      end: day,
      hours: u.hours,
      total_hours: u.total_hours,
      requests: u.requests,
      tokens: { in: u.tokensIn, out: u.tokensOut },
      tts: { characters: u.ttsCharacters, requests: u.ttsRequests },
    });
  }
  return json(200, { start: dayOfUs(startUs), end: dayOfUs(endUs), resolution: { units: "day", amount: 1 }, results });
}

/** One UTC day's usage over every record of the project; `withOverReport` adds the injected excess. */
export function usageOfDay(state: SimulatorState, store: ProjectStore, day: string, withOverReport: boolean) {
  const dayStart = parseDay(day);
  if (dayStart === null) throw new RangeError(`day must be YYYY-MM-DD, got ${day}`);
  const u = store.dayUsage(day, dayStart, dayStart + DAY_US - 1);
  if (withOverReport) u.requests += state.overReport.get(`${store.spec.project.project_id} ${day}`) ?? 0;
  return u;
}
