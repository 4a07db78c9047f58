// Shapes the simulator never produces, checked on the pure validation functions with literal objects.
import { describe, expect, it } from "vitest";
import {
  DeepgramHttpError,
  DeepgramNetworkError,
  DeepgramResponseError,
  formatRequestsDateTime,
  isProjectFatal,
  isRetryable,
  parseKeys,
  parseProjects,
  parseRequestItem,
  parseRequestsPage,
  parseRetryAfter,
  parseUsage,
  validateRequestItem,
} from "../../src/deepgram/index.js";

const site = { endpoint: "requests" as const, path: "/v1/projects/p/requests", projectId: "p" };
const http = (status: number) =>
  new DeepgramHttpError({ ...site, status, errCode: null, errMessage: null, requestId: null, retryAfterMs: null });

const legacyItem = {
  request_id: "9f3c1a52-6d0e-4c2b-9b8e-2f4d7a1e0c11",
  created: "2026-08-20T14:05:09.118204Z",
  path: "/v1/listen?model=nova-3",
  response: { code: 200, details: { usd: 0.0043, config: { detect_topics: "true" } } },
  callback: { attempts: 1, code: 200, completed: "2026-08-20T13:30:10.120000Z" },
  some_future_field: { nested: [1, 2] },
};
const specItem = { request_id: "r2", created: "2026-08-20T14:05:09+00:00", code: 200, deployment: "hosted", callback: "https://x", response: {} };
const pendingItem = { request_id: "r3", created: "2026-08-20T14:05:09.5-05:00", response: null, callback: null };

describe("list page validation", () => {
  it("keeps valid items as the very objects received, unknown fields included", () => {
    const page = parseRequestsPage({ page: 0, limit: 10, requests: [legacyItem, specItem, pendingItem] }, { page: 0, limit: 10 });
    expect(page.items).toHaveLength(3);
    expect(page.items[0]).toBe(legacyItem);
    expect(page.items[0]).toEqual(legacyItem);
    expect(page.items[1]).toBe(specItem);
    expect(page.rejected).toEqual([]);
    expect(page.rawCount).toBe(3);
  });

  it("reports unusable items as rejected with a reason instead of throwing", () => {
    const bad = [
      null,
      "a string",
      [1],
      { created: "2026-08-20T14:05:09Z" },
      { request_id: "", created: "2026-08-20T14:05:09Z" },
      { request_id: 42, created: "2026-08-20T14:05:09Z" },
      { request_id: "x" },
      { request_id: "x", created: "2026-08-20T14:05:09" },
      { request_id: "x", created: "2026-08-20" },
      { request_id: "x", created: "yesterday Z" },
      { request_id: "x", created: "2026-13-45T99:00:00Z" },
    ];
    const page = parseRequestsPage({ page: 3, limit: 25, requests: [...bad, legacyItem] }, { page: 3, limit: 25 });
    expect(page.items).toEqual([legacyItem]);
    expect(page.rawCount).toBe(bad.length + 1);
    expect(page.rejected.map((r) => r.raw)).toEqual(bad);
    expect(page.rejected.map((r) => r.reason)).toEqual([
      "item is not an object",
      "item is not an object",
      "item is not an object",
      "request_id is missing",
      "request_id is empty",
      "request_id is not a string",
      "created is missing",
      "created is not an ISO-8601 datetime with a zone",
      "created is not an ISO-8601 datetime with a zone",
      "created is not an ISO-8601 datetime with a zone",
      "created is not an ISO-8601 datetime with a zone",
    ]);
  });

  it("reads page and limit from numbers or numeric strings and falls back to the request", () => {
    expect(parseRequestsPage({ page: "2", limit: "50", requests: [] }, { page: 2, limit: 1000 })).toMatchObject({ page: 2, limit: 50, rawCount: 0 });
    expect(parseRequestsPage({ requests: [legacyItem] }, { page: 4, limit: 7 })).toMatchObject({ page: 4, limit: 7, rawCount: 1 });
    expect(parseRequestsPage({ page: 0, limit: 10 }, { page: 0, limit: 10 })).toMatchObject({ items: [], rawCount: 0 });
    expect(parseRequestsPage({ page: 0, limit: 10, requests: null }, { page: 0, limit: 10 }).rawCount).toBe(0);
  });

  it("refuses a page whose top level has the wrong shape", () => {
    expect(() => parseRequestsPage({ requests: { a: 1 } }, { page: 0, limit: 1 })).toThrow(/requests is not an array/);
    expect(() => parseRequestsPage([], { page: 0, limit: 1 })).toThrow(/body/);
    expect(() => parseRequestsPage({ limit: "ten", requests: [] }, { page: 0, limit: 1 })).toThrow(/limit/);
  });

  it("accepts the single request flat or wrapped in {request}", () => {
    expect(parseRequestItem(legacyItem)).toBe(legacyItem);
    expect(parseRequestItem({ request: specItem })).toBe(specItem);
    expect(() => parseRequestItem({ request: { request_id: "x" } })).toThrow(/created is missing/);
    expect(validateRequestItem(pendingItem)).toEqual({ ok: true, item: pendingItem });
  });
});

describe("usage, projects and keys", () => {
  it("coerces numeric strings, reads nested or flat token counters, and leaves absent ones null", () => {
    const body = {
      start: "2026-08-01",
      end: "2026-08-02",
      resolution: { units: "day", amount: 1 },
      results: [
        { start: "2026-08-01", end: "2026-08-01", requests: "12", hours: "1.5", total_hours: 1.6, tokens: { in: 3, out: "4" }, tts: { characters: 5, requests: 6 } },
        { start: "2026-08-02", requests: 0, hours: 0, tokens_in: 7, tts_characters: "8" },
      ],
    };
    const usage = parseUsage(body);
    expect(usage.start).toBe("2026-08-01");
    expect(usage.raw).toBe(body);
    expect(usage.results[0]).toEqual({
      start: "2026-08-01", end: "2026-08-01", requests: 12, hours: 1.5, total_hours: 1.6,
      tokens_in: 3, tokens_out: 4, tts_characters: 5, tts_requests: 6, raw: body.results[0],
    });
    expect(usage.results[1]).toMatchObject({ end: "2026-08-02", total_hours: null, tokens_in: 7, tokens_out: null, tts_characters: 8, tts_requests: null });
    expect(parseUsage({}).results).toEqual([]);
    expect(() => parseUsage({ results: [{ start: "2026-08-01", requests: "lots" }] })).toThrow(/results\.0\.requests/);
  });

  it("keeps projects with an id and skips (and reports) the rest", () => {
    const r = parseProjects({ projects: [{ project_id: "a", name: "A", company: "c" }, { project_id: "b" }, { name: "no id" }] });
    expect(r.projects).toEqual([
      { project_id: "a", name: "A", raw: { project_id: "a", name: "A", company: "c" } },
      { project_id: "b", name: null, raw: { project_id: "b" } },
    ]);
    expect(r.skipped).toEqual([{ raw: { name: "no id" }, reason: "project_id is missing" }]);
  });

  it("reads nested and flat keys and never carries the member's email", () => {
    const r = parseKeys({
      api_keys: [
        { member: { member_id: "m", email: "alice@example.com" }, api_key: { api_key_id: "k1", comment: "ci", scopes: ["member"], created: "2026-01-01T00:00:00Z" } },
        { api_key_id: "k2", tags: ["team-a", 3], expiration_date: "2027-01-01T00:00:00Z" },
        { member: { email: "bob@example.com" }, api_key: { comment: "no id" } },
      ],
    });
    expect(r.keys).toEqual([
      { api_key_id: "k1", comment: "ci", scopes: ["member"], tags: [], created: "2026-01-01T00:00:00Z", expiration_date: null },
      { api_key_id: "k2", comment: null, scopes: [], tags: ["team-a"], created: null, expiration_date: "2027-01-01T00:00:00Z" },
    ]);
    expect(r.skipped).toHaveLength(1);
    expect(JSON.stringify(r)).not.toContain("@example.com");
  });
});

describe("error table and formats", () => {
  it("retries 408, 429 and 5xx, network trouble and bad bodies, and nothing else", () => {
    for (const s of [408, 429, 500, 502, 503, 504, 599]) expect(isRetryable(http(s)), String(s)).toBe(true);
    for (const s of [301, 400, 401, 403, 404, 409, 422]) expect(isRetryable(http(s)), String(s)).toBe(false);
    expect(isRetryable(new DeepgramNetworkError({ ...site, timeout: true, code: null, detail: "" }))).toBe(true);
    const body = (problem: "truncated" | "unparsable" | "shape") => new DeepgramResponseError({ ...site, problem, status: 200, requestId: null, detail: "" });
    expect(isRetryable(body("truncated"))).toBe(true);
    expect(isRetryable(body("unparsable"))).toBe(true);
    expect(isRetryable(body("shape"))).toBe(false);
    expect(isRetryable(new Error("bug"))).toBe(false);
    expect([401, 403, 404].every((s) => isProjectFatal(http(s)))).toBe(true);
    expect([400, 429, 500].some((s) => isProjectFatal(http(s)))).toBe(false);
  });

  it("parses Retry-After as seconds or an HTTP date, and ignores anything else", () => {
    const now = Date.parse("2026-08-20T12:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("Thu, 20 Aug 2026 12:00:07 GMT", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 20 Aug 2026 11:00:00 GMT", now)).toBe(0);
    for (const v of [null, "", "-1", "1.5", "soon", "2026-08-20T12:00:07Z"]) expect(parseRetryAfter(v, now), String(v)).toBeNull();
  });

  it("formats window bounds as whole-second UTC with an explicit offset", () => {
    expect(formatRequestsDateTime(new Date("2026-08-20T12:00:00Z"))).toBe("2026-08-20T12:00:00+00:00");
    expect(() => formatRequestsDateTime(new Date("2026-08-20T12:00:00.5Z"))).toThrow(/whole second/);
    expect(() => formatRequestsDateTime(new Date("nope"))).toThrow(RangeError);
  });
});
