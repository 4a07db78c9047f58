// The client against the project's simulator over a real socket: no module mocks.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { createLogger } from "../../src/logger.js";
import {
  createDeepgramClient,
  DeepgramHttpError,
  DeepgramNetworkError,
  DeepgramResponseError,
  isProjectFatal,
  isRetryable,
  type ClientEvent,
  type DeepgramClientOptions,
  type RequestItem,
} from "../../src/deepgram/index.js";
import { createSimulator, type FaultKind, type Simulator } from "../../src/simulator/index.js";

const KEY = "dgk_live_8f2e4b1c9a7d6e5f4a3b2c1d0e9f8a7b";
const WRONG_KEY = "dgk_live_wrong_0000111122223333";
const SLOW_MS = 1000;

// Everything the client said anywhere, checked for the key at the end of the file.
const logBuffers: string[][] = [];
const eventBuffers: ClientEvent[][] = [];
const allErrorTexts: string[] = [];

let clock: ManualClock;
let sim: Simulator;
let baseUrl: string;
let pid: string;

beforeEach(async () => {
  clock = new ManualClock("2026-08-20T12:00:00Z");
  sim = createSimulator({ clock, apiKey: KEY, seed: 7, projects: 2, days: 3, perDay: 100, slowMs: SLOW_MS });
  baseUrl = await sim.start();
  pid = sim.projects()[0]!.project_id;
});
afterEach(() => sim.stop());

function setup(extra: Partial<DeepgramClientOptions> = {}) {
  const lines: string[] = [];
  const events: ClientEvent[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (s: string) => void lines.push(s) } });
  const client = createDeepgramClient({
    baseUrl: `${baseUrl}/`,
    apiKey: KEY,
    minDelayMs: 5,
    maxDelayMs: 50,
    timeoutMs: 5000,
    logger,
    clock,
    onEvent: (e) => void events.push(e),
    ...extra,
  });
  // Shared with the final check by reference, so lines written later are included too.
  logBuffers.push(lines);
  eventBuffers.push(events);
  return { client, lines, events, retries: () => events.filter((e) => e.type === "retry") };
}

/** Awaits a rejection and records its text for the final key check. */
async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e as Error,
  );
  allErrorTexts.push(String(err), err.message, JSON.stringify(err), String((err as { cause?: unknown }).cause ?? ""));
  return err;
}

const served = () => sim.stats().requestsServed;
const DAY_WINDOW = { start: new Date("2026-08-19T00:00:00Z"), end: new Date("2026-08-20T00:00:00Z") };

describe("reading the API", () => {
  it("pages a window with explicit UTC bounds and Token auth until a short page", async () => {
    const { client, lines } = setup();
    const seen: RequestItem[] = [];
    for (let page = 0; ; page++) {
      const p = await client.listRequests(pid, { ...DAY_WINDOW, page, limit: 30 });
      expect(p.page).toBe(page);
      expect(p.limit).toBe(30);
      expect(p.rejected).toEqual([]);
      seen.push(...p.items);
      if (p.rawCount < p.limit) break;
    }
    const lo = DAY_WINDOW.start.getTime();
    const hi = DAY_WINDOW.end.getTime();
    const expected = sim.visibleTruth(pid).filter((r) => Date.parse(r.created) >= lo && Date.parse(r.created) <= hi);
    expect(expected.length).toBeGreaterThan(60);
    expect(seen).toEqual(expected); // every field, exactly as served
    // The server decoded "+00:00" intact, so the "+" travelled as %2B, not as a space.
    const fetches = sim.stats().pageFetches;
    expect(fetches[0]).toMatchObject({ start: "2026-08-19T00:00:00+00:00", end: "2026-08-20T00:00:00+00:00", page: 0, limit: 30 });
    expect(fetches.map((f) => f.page)).toEqual(fetches.map((_, i) => i));
    const debug = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "deepgram request");
    expect(debug[0]).toMatchObject({ component: "deepgram", method: "GET", status: 200, attempt: 1 });
    expect(debug[0]!.path).toBe(`/v1/projects/${pid}/requests?start=2026-08-19T00%3A00%3A00%2B00%3A00&end=2026-08-20T00%3A00%3A00%2B00%3A00&limit=30&page=0`);
  });

  it("lists projects, gets one request, reads usage and keys without the member's email", async () => {
    const { client } = setup();
    expect((await client.listProjects()).map(({ project_id, name }) => ({ project_id, name }))).toEqual(sim.projects());

    const one = sim.visibleTruth(pid)[5]!;
    expect(await client.getRequest(pid, one.request_id)).toEqual(one);

    const usage = await client.getUsage(pid, { start: "2026-08-17", end: "2026-08-19" });
    expect(usage.results.map((d) => d.start)).toEqual(["2026-08-17", "2026-08-18", "2026-08-19"]);
    for (const d of usage.results) {
      const truth = sim.usageDay(pid, d.start);
      expect(d).toMatchObject({ end: d.start, requests: truth.requests, hours: truth.hours, total_hours: truth.total_hours });
      expect(typeof d.tokens_in === "number" || d.tokens_in === null).toBe(true);
      expect(d.raw).toHaveProperty("tokens");
    }

    const keys = await client.listKeys(pid);
    expect(keys).toEqual(sim.keys(pid).map(({ member: _member, ...k }) => k));
    expect(JSON.stringify(keys)).not.toContain("@");
  });
});

describe("retries", () => {
  const cases: Array<[FaultKind, string | RegExp]> = [
    ["429-retry-after-seconds", "429"],
    ["429-retry-after-date", "429"],
    ["429-bare", "429"],
    ["500", "500"],
    ["502", "502"],
    ["503", "503"],
    ["reset", /^network: \S+/],
    ["truncated", "bad body"],
    ["slow", "timeout"],
  ];
  it.each(cases)("recovers from a %s fault with one retry", async (kind, reason) => {
    // Only the "slow" case needs a short timeout; elsewhere a loaded machine must not add a retry.
    const { client, retries, events } = setup({ timeoutMs: kind === "slow" ? 300 : 10_000 });
    const clean = await client.listRequests(pid, { ...DAY_WINDOW, page: 0, limit: 50 });
    sim.control.queueFaults([kind]);
    const before = served();
    const page = await client.listRequests(pid, { ...DAY_WINDOW, page: 0, limit: 50 });
    expect(page).toEqual(clean);
    expect(served() - before).toBe(2);
    expect(retries()).toHaveLength(1);
    const retry = retries()[0]!;
    expect(retry).toMatchObject({ endpoint: "requests", attempt: 1 });
    expect(retry.type === "retry" && retry.reason).toMatch(reason);
    if (kind.startsWith("429-retry-after")) expect(retry).toMatchObject({ delayMs: 50 }); // capped by maxDelayMs
    else expect(retry.type === "retry" && retry.delayMs).toBeGreaterThanOrEqual(2); // jittered 50-100% of 5 ms
    expect(events.at(-1)).toMatchObject({ type: "response", status: 200, attempt: 2 });
  });

  it("honours Retry-After in seconds and as an HTTP date, capped by maxDelayMs", async () => {
    const { client, retries } = setup({ maxDelayMs: 1500 });
    sim.control.queueFaults(["429-retry-after-seconds", "429-retry-after-date"]);
    await client.listProjects();
    // "1" → 1000 ms; the date is 2 s after the simulator's clock (shared with the client) → capped.
    expect(retries().map((e) => e.type === "retry" && e.delayMs)).toEqual([1000, 1500]);
  });

  it("backs off exponentially with jitter when no Retry-After is given", async () => {
    const { client, retries } = setup({ minDelayMs: 20, maxDelayMs: 60, retries: 4 });
    sim.control.queueFaults(["503", "500", "429-bare", "502"]);
    await client.listProjects();
    const delays = retries().map((e) => (e.type === "retry" ? e.delayMs : -1));
    const steps = [20, 40, 60, 60];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(steps[i]! / 2);
      expect(d).toBeLessThanOrEqual(steps[i]!);
    });
  });

  it("gives up after the retry budget with the error of the last attempt", async () => {
    const { client, retries } = setup({ retries: 2 });
    let before = served();
    sim.control.queueFaults(["503", "503", "502"]);
    const http = await failure(client.listRequests(pid, { ...DAY_WINDOW, page: 0, limit: 10 }));
    expect(served() - before).toBe(3);
    expect(retries()).toHaveLength(2);
    expect(http).toBeInstanceOf(DeepgramHttpError);
    expect(http).toMatchObject({ status: 502, endpoint: "requests", projectId: pid, errCode: null });
    expect((http as DeepgramHttpError).errMessage).toContain("502 Bad Gateway");
    expect((http as DeepgramHttpError).errMessage!.length).toBeLessThanOrEqual(300);
    expect(http.message).toMatch(/server error .*retried automatically/);
    expect(isRetryable(http)).toBe(true);

    sim.control.queueFaults(["reset", "reset", "reset"]);
    const net = await failure(client.listProjects());
    expect(net).toBeInstanceOf(DeepgramNetworkError);
    expect(net).toMatchObject({ timeout: false, endpoint: "projects" });

    before = served();
    sim.control.queueFaults(["truncated", "truncated", "truncated"]);
    const body = await failure(client.listRequests(pid, { ...DAY_WINDOW, page: 0, limit: 100 }));
    expect(served() - before).toBe(3);
    expect(body).toBeInstanceOf(DeepgramResponseError);
    expect(body).toMatchObject({ problem: "truncated", status: 200 });
  });

  it("times out an attempt whose answer stalls, per timeoutMs", async () => {
    const { client } = setup({ timeoutMs: 100, retries: 1 });
    sim.control.queueFaults(["slow", "slow"]);
    const started = performance.now();
    const err = await failure(client.listProjects());
    expect(performance.now() - started).toBeLessThan(SLOW_MS);
    expect(err).toBeInstanceOf(DeepgramNetworkError);
    expect(err).toMatchObject({ timeout: true, endpoint: "projects" });
    expect(err.message).toMatch(/did not answer GET \/v1\/projects in time/);
  });

  it("reports a refused connection as a network error after retrying it", async () => {
    const { client, retries } = setup({ retries: 1 });
    await sim.stop();
    const err = await failure(client.listProjects());
    expect(err).toBeInstanceOf(DeepgramNetworkError);
    expect(err).toMatchObject({ timeout: false, code: "ECONNREFUSED" });
    expect(err.message).toMatch(/Cannot reach Deepgram for GET \/v1\/projects: .*ECONNREFUSED.*DEEPGRAM_BASE_URL/);
    expect(retries().map((e) => e.type === "retry" && e.reason)).toEqual(["network: ECONNREFUSED"]);
  });

  it("refuses a base URL that is not http(s) before any call", () => {
    expect(() => createDeepgramClient({ baseUrl: "api.deepgram.com", apiKey: KEY })).toThrow(/DEEPGRAM_BASE_URL/);
    expect(() => createDeepgramClient({ baseUrl: "ftp://x", apiKey: KEY })).toThrow(RangeError);
  });
});

describe("errors that are not retried", () => {
  it("fails at once on a revoked key with a message that says what to fix", async () => {
    const { client, retries, lines } = setup();
    sim.control.revokeKey();
    const before = served();
    const err = await failure(client.listRequests(pid, { ...DAY_WINDOW, page: 0, limit: 10 }));
    expect(served() - before).toBe(1);
    expect(retries()).toEqual([]);
    expect(err).toBeInstanceOf(DeepgramHttpError);
    const e = err as DeepgramHttpError;
    expect(e).toMatchObject({ status: 401, endpoint: "requests", projectId: pid, errCode: "INVALID_AUTH", errMessage: "Invalid credentials.", retryAfterMs: null });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.path).toMatch(new RegExp(`^/v1/projects/${pid}/requests\\?start=`));
    expect(e.message).toBe(
      `Deepgram refused the API key (401 INVALID_AUTH: Invalid credentials.) for project ${pid}. Check DEEPGRAM_API_KEY; the key needs a project role with usage:read (member or above). [dg-request-id ${e.requestId}]`,
    );
    expect(isProjectFatal(e)).toBe(true);
    expect(isRetryable(e)).toBe(false);
    expect(lines.join("\n")).not.toContain(KEY);
  });

  it("sends the key as Token auth: a wrong key is refused and appears nowhere", async () => {
    const { client, lines } = setup({ apiKey: WRONG_KEY });
    const err = await failure(client.listProjects());
    expect(err).toMatchObject({ status: 401, projectId: null });
    expect(err.message).toContain("for the project list (GET /v1/projects)");
    expect(`${err.message} ${JSON.stringify(err)} ${lines.join("\n")}`).not.toContain(WRONG_KEY);
  });

  it("fails at once on 403, 404 and 400 with the server's code, message and request id", async () => {
    const { client, retries } = setup();
    sim.control.forbidProject(pid);
    let before = served();
    const forbidden = (await failure(client.listKeys(pid))) as DeepgramHttpError;
    expect(served() - before).toBe(1);
    expect(forbidden).toMatchObject({ status: 403, endpoint: "keys", errCode: "UNAUTHORIZED", errMessage: "Insufficient permissions." });
    expect(forbidden.message).toMatch(new RegExp(`lacks permission for project ${pid} .*member role`));
    expect(forbidden.message).toContain(`[dg-request-id ${forbidden.requestId}]`);

    // A slash in the id must stay inside the path segment, reaching the project lookup (JSON 404).
    before = served();
    const missing = (await failure(client.getUsage("no/such?project", { start: "2026-08-19", end: "2026-08-19" }))) as DeepgramHttpError;
    expect(served() - before).toBe(1);
    expect(missing).toMatchObject({ status: 404, errCode: "NOT_FOUND", path: "/v1/projects/no%2Fsuch%3Fproject/usage?start=2026-08-19&end=2026-08-19" });
    expect(missing.message).toMatch(/project no\/such\?project was not found .*Check DEEPGRAM_PROJECT_IDS/);
    expect(isProjectFatal(missing)).toBe(true);

    const other = sim.projects()[1]!.project_id;
    before = served();
    const noRequest = (await failure(client.getRequest(other, "00000000-0000-0000-0000-000000000000"))) as DeepgramHttpError;
    expect(served() - before).toBe(1);
    expect(noRequest).toMatchObject({ status: 404, endpoint: "request" });
    expect(noRequest.message).toMatch(/no such request/);

    before = served();
    const bad = (await failure(client.getUsage(other, { start: "2000-01-01", end: "2026-08-19" }))) as DeepgramHttpError;
    expect(served() - before).toBe(1);
    expect(bad).toMatchObject({ status: 400, errCode: "INVALID_QUERY_PARAMETER" });
    expect(bad.errMessage).toMatch(/^Failed to deserialize query parameters/);
    expect(isProjectFatal(bad)).toBe(false);
    expect(retries()).toEqual([]);
  });
});

describe("cancellation", () => {
  it("stops waiting between attempts as soon as the caller aborts", async () => {
    const ctrl = new AbortController();
    const reason = new Error("shutting down");
    const { client } = setup({
      minDelayMs: 10_000,
      maxDelayMs: 10_000,
      onEvent: (e) => {
        if (e.type === "retry") setTimeout(() => ctrl.abort(reason), 20);
      },
    });
    sim.control.queueFaults(["503"]);
    const before = served();
    const started = performance.now();
    await expect(client.listProjects(ctrl.signal)).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(served() - before).toBe(1);
  });

  it("abandons an answer in flight and makes no call with an aborted signal", async () => {
    const { client } = setup();
    const ctrl = new AbortController();
    sim.control.queueFaults(["slow"]);
    const started = performance.now();
    setTimeout(() => ctrl.abort(new Error("stop")), 50);
    await expect(client.listRequests(pid, { ...DAY_WINDOW, page: 0, limit: 10 }, ctrl.signal)).rejects.toThrow("stop");
    expect(performance.now() - started).toBeLessThan(SLOW_MS);

    const before = served();
    await expect(client.listKeys(pid, ctrl.signal)).rejects.toThrow("stop");
    expect(served()).toBe(before);
  });
});

describe("secrecy", () => {
  // Tests in a file run in order, so this sees everything the tests above made the client emit.
  it("never puts the API key in an error message, log line or event", () => {
    const lines = logBuffers.flat();
    expect(lines.filter((l) => l.includes('"level":40') && l.includes("retrying")).length).toBeGreaterThan(10);
    expect(lines.filter((l) => l.includes('"level":20')).length).toBeGreaterThan(20);
    expect(allErrorTexts.length).toBeGreaterThan(20);
    const everything = [...lines, ...allErrorTexts, JSON.stringify(eventBuffers)].join("\n");
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(WRONG_KEY);
  });
});
