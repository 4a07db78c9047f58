import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { createSimulator, serveSimulator, type RequestItem, type Simulator, type SimulatorOptions } from "../../src/simulator/index.js";

const NOW = "2026-08-20T12:00:00.000Z";
const KEY = "sim-test-key";
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CREATED_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

type Json = Record<string, any>;

function options(over: Partial<SimulatorOptions> = {}): SimulatorOptions {
  return { clock: new ManualClock(NOW), apiKey: KEY, seed: 7, days: 95, perDay: 40, ...over };
}

async function get(sim: Simulator, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const res = await fetch(sim.url + path, { headers: { Authorization: `Token ${KEY}` }, ...init });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain-text answers stay text
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** Reads a window to its end the way an archiver does: pages of 1000 until a short page. */
async function listAll(sim: Simulator, projectId: string, query: string): Promise<RequestItem[]> {
  const out: RequestItem[] = [];
  for (let page = 0; ; page++) {
    const r = await get(sim, `/v1/projects/${projectId}/requests?${query}&limit=1000&page=${page}`);
    expect(r.status).toBe(200);
    out.push(...r.body.requests);
    if (r.body.requests.length < r.body.limit) return out;
  }
}

const ids = (items: RequestItem[]): string[] => items.map((i) => i.request_id);
const response = (i: RequestItem): Json | null => i.response as Json | null;
const between = (items: RequestItem[], lo: string, hi: string): RequestItem[] => items.filter((i) => i.created >= lo && i.created <= hi);

/** An instant written with a UTC offset, e.g. 2026-08-19T12:00:00+02:00 for 10:00Z. */
function withOffset(iso: string, minutes: number): string {
  const local = new Date(Date.parse(iso) + minutes * 60_000).toISOString().slice(0, 19);
  const m = Math.abs(minutes);
  return `${local}${minutes < 0 ? "-" : "+"}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

describe("simulator data", () => {
  const sim = createSimulator(options());
  const [p1, p2] = sim.projects();
  const truth = sim.truth(p1!.project_id);

  it("is byte-identical for the same seed, options and anchor, and differs for another seed", () => {
    const again = createSimulator(options({ clock: new ManualClock("2030-01-01T00:00:00Z"), anchor: new Date(NOW) }));
    expect(again.projects()).toEqual(sim.projects());
    expect(JSON.stringify(again.truth(p1!.project_id))).toBe(JSON.stringify(truth));
    expect(JSON.stringify(again.keys(p2!.project_id))).toBe(JSON.stringify(sim.keys(p2!.project_id)));
    const other = createSimulator(options({ seed: 8 }));
    expect(other.projects()[0]!.project_id).not.toBe(p1!.project_id);
  });

  it("has exactly days * perDay records per project, newest first, spanning [anchor - days, anchor)", () => {
    expect(sim.projects()).toHaveLength(2);
    expect(truth).toHaveLength(3800);
    expect(sim.truth(p2!.project_id)).toHaveLength(3800);
    expect(sim.recordCount(p1!.project_id)).toBe(3800);
    expect(truth[0]!.created < "2026-08-20T12:00:00.000000Z").toBe(true);
    expect(truth.at(-1)!.created >= "2026-05-17T12:00:00.000000Z").toBe(true);
    for (let i = 1; i < truth.length; i++) {
      const [a, b] = [truth[i - 1]!, truth[i]!];
      expect(a.created > b.created || (a.created === b.created && a.request_id < b.request_id)).toBe(true);
    }
    expect(new Set(ids(truth)).size).toBe(3800);
  });

  it("puts about 1% of records exactly on an hour boundary, including ties", () => {
    const onHour = truth.filter((i) => i.created.endsWith(":00:00.000000Z"));
    expect(onHour.length).toBeGreaterThan(15);
    expect(onHour.length).toBeLessThan(80);
  });

  it("produces every documented shape and some hostile values", () => {
    const keyIds = new Set(sim.keys(p1!.project_id).map((k) => k.api_key_id));
    for (const item of truth) {
      expect(item.request_id).toMatch(UUID_RE);
      expect(item.created).toMatch(CREATED_RE);
      expect(keyIds.has(item.api_key_id as string)).toBe(true);
      expect(item.accessor).toBe(item.api_key_id);
    }
    const paths = truth.map((i) => i.path as string);
    for (const prefix of ["/v1/listen?", "/v1/speak?", "/v1/read?", "/v1/agent/"]) expect(paths.some((p) => p.startsWith(prefix))).toBe(true);
    const completed = truth.filter((i) => response(i));
    const methods = new Set(completed.map((i) => response(i)!.details?.method));
    expect([...methods].sort()).toEqual(["async", "streaming", "sync", undefined]);
    expect(completed.some((i) => response(i)!.tts_details?.speech_segments?.[0]?.characters > 0)).toBe(true);
    expect(completed.some((i) => response(i)!.token_details?.[0]?.input > 0)).toBe(true);
    const failed = completed.filter((i) => response(i)!.code >= 400);
    expect(failed.length).toBeGreaterThan(40);
    expect(failed.length).toBeLessThan(200);
    for (const f of failed) {
      expect(Object.keys(response(f)!).sort()).toEqual(["code", "completed", "message"]);
    }
    expect(truth.some((i) => typeof i.callback === "string")).toBe(true);
    expect(truth.some((i) => (i.callback as Json | null)?.attempts >= 1)).toBe(true);
    expect(truth.some((i) => i.code === response(i)?.code && i.code !== undefined)).toBe(true);
    expect(truth.some((i) => i.deployment === "hosted")).toBe(true);
    expect(truth.some((i) => JSON.stringify(i.x_future_field) === '{"nested":[1,2]}')).toBe(true);
    const tags = new Set(completed.flatMap((i) => (response(i)!.details?.tags as string[] | undefined) ?? []));
    for (const t of ["'; drop table requests; --", "it's \"quoted\"", "日本語タグ", "émoji 🎧"]) expect(tags.has(t)).toBe(true);
    const configs = completed.map((i) => response(i)!.details?.config).filter(Boolean);
    expect(configs.some((c) => Object.values(c).includes("true"))).toBe(true);
    expect(configs.some((c) => typeof c.model === "string")).toBe(true);
  });

  it("keeps pending records (response null) only in the last 6 hours before the anchor", () => {
    const big = createSimulator(options({ days: 2, perDay: 2000 }));
    const items = big.truth(big.projects()[0]!.project_id);
    const pending = items.filter((i) => i.response === null);
    expect(pending.length).toBeGreaterThan(5);
    for (const p of pending) expect(p.created >= "2026-08-20T06:00:00.000000Z").toBe(true);
    const recent = items.filter((i) => i.created >= "2026-08-20T06:00:00.000000Z").length;
    expect(pending.length / recent).toBeGreaterThan(0.02);
    expect(pending.length / recent).toBeLessThan(0.09);
  });

  it("keeps what fell off the horizon deleted when the clock moves back", () => {
    const clock = new ManualClock(NOW);
    const own = createSimulator(options({ clock }));
    const pid = own.projects()[0]!.project_id;
    const truth = own.truth(pid);
    clock.set("2026-08-25T12:00:00.000Z");
    const horizonLo = "2026-05-27T12:00:00.000000Z";
    expect(ids(own.visibleTruth(pid))).toEqual(ids(between(truth, horizonLo, "2026-08-25T12:00:00.000000Z")));
    clock.set("2026-08-01T12:00:00.000Z");
    // The lower bound stays where the latest clock put it; the upper bound follows the clock.
    const back = own.visibleTruth(pid);
    expect(ids(back)).toEqual(ids(between(truth, horizonLo, "2026-08-01T12:00:00.000000Z")));
    expect(back.length).toBeGreaterThan(1000);
    expect(between(truth, "2026-05-02T12:00:00.000000Z", horizonLo).length).toBeGreaterThan(100);
  });

  it("computes usage per UTC day from every record, past the horizon too", () => {
    const id = p1!.project_id;
    for (const day of ["2026-05-18", "2026-08-19", "2026-08-20"]) {
      const items = truth.filter((i) => i.created.startsWith(day));
      let duration = 0;
      let audio = 0;
      for (const i of items) {
        duration += response(i)?.details?.duration ?? 0;
        audio += response(i)?.details?.total_audio ?? 0;
      }
      expect(sim.usageDay(id, day)).toEqual({ requests: items.length, hours: duration / 3600, total_hours: audio / 3600 });
    }
    expect(sim.usageDay(id, "2026-05-18").requests).toBeGreaterThan(0);
    expect(sim.usageDay(id, "2026-05-01")).toEqual({ requests: 0, hours: 0, total_hours: 0 });
  });
});

describe("simulator HTTP API", () => {
  const clock = new ManualClock(NOW);
  const sim = createSimulator(options({ clock }));
  const project = sim.projects()[0]!;
  const pid = project.project_id;
  const base = `/v1/projects/${pid}`;

  beforeAll(() => sim.start());
  afterAll(() => sim.stop());
  afterEach(() => clock.set(NOW));

  it("lists projects and keys", async () => {
    const r = await get(sim, "/v1/projects");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ projects: sim.projects() });
    expect(r.headers.get("dg-request-id")).toMatch(UUID_RE);
    const k = await get(sim, `${base}/keys`);
    expect(k.body.api_keys).toHaveLength(5);
    const first = sim.keys(pid)[0]!;
    expect(k.body.api_keys[0]).toEqual({
      member: first.member,
      api_key: { api_key_id: first.api_key_id, comment: first.comment, scopes: first.scopes, tags: first.tags, created: first.created, expiration_date: first.expiration_date },
    });
    expect(sim.keys(pid).map((x) => x.comment)).toContain("Ünïcode team 日本");
    expect((await get(sim, base)).body).toEqual({ ...project, mip_opt_out: false });
  });

  it("pages 0-based, newest first, covering every visible record exactly once", async () => {
    const visible = sim.visibleTruth(pid);
    expect(visible).toHaveLength(sim.recordCount(pid, { visible: true }));
    expect(visible.length).toBeGreaterThan(3500);
    const before = sim.stats().pagesServed;
    const all = await listAll(sim, pid, "start=2020-01-01");
    expect(ids(all)).toEqual(ids(visible));
    expect(JSON.stringify(all)).toBe(JSON.stringify(visible));
    expect(sim.stats().pagesServed - before).toBe(Math.floor(visible.length / 1000) + 1);
    const first = await get(sim, `${base}/requests?limit=3`);
    expect(first.body.page).toBe(0);
    expect(ids(first.body.requests)).toEqual(ids(visible.slice(0, 3)));
    const second = await get(sim, `${base}/requests?limit=3&page=1`);
    expect(ids(second.body.requests)).toEqual(ids(visible.slice(3, 6)));
  });

  it("defaults limit to 10, clamps it to [1, 1000] and echoes the clamped value", async () => {
    const cases: [string, number, number][] = [["", 10, 10], ["&limit=5000", 1000, 1000], ["&limit=0", 1, 1], ["&limit=1000", 1000, 1000]];
    for (const [q, limit, count] of cases) {
      const r = await get(sim, `${base}/requests?page=0${q}`);
      expect([r.body.page, r.body.limit, r.body.requests.length]).toEqual([0, limit, count]);
    }
    const fetches = sim.stats().pageFetches.slice(-4);
    expect(fetches.map((f) => [f.page, f.limit, f.count, f.start, f.end, f.projectId])).toEqual(cases.map(([, l, c]) => [0, l, c, "", "", pid]));
    const beyond = await get(sim, `${base}/requests?limit=1000&page=99`);
    expect(beyond.body).toEqual({ page: 99, limit: 1000, requests: [] });
  });

  it("treats start and end as inclusive instants, in every accepted form", async () => {
    const visible = sim.visibleTruth(pid);
    const onHour = visible.find((i) => i.created.endsWith(":00:00.000000Z") && i.created < "2026-08-19")!;
    const t = onHour.created.slice(0, 19) + "Z";
    const atT = between(visible, onHour.created, onHour.created);
    expect(atT.length).toBeGreaterThanOrEqual(1);

    const exact = await listAll(sim, pid, `start=${t}&end=${t}`);
    expect(ids(exact)).toEqual(ids(atT));
    const hourBefore = new Date(Date.parse(t) - 3_600_000).toISOString().slice(0, 19);
    const expected = between(visible, `${hourBefore}.000000Z`, onHour.created);
    const forms = [
      `start=${hourBefore}Z&end=${t}`,
      `start=${hourBefore}&end=${t.slice(0, 19)}`,
      `start=${hourBefore}.000000Z&end=${t.slice(0, 19)}.000000000Z`,
      `start=${encodeURIComponent(withOffset(hourBefore + "Z", 0))}&end=${encodeURIComponent(withOffset(t, 120))}`,
      `start=${encodeURIComponent(withOffset(hourBefore + "Z", -330))}&end=${encodeURIComponent(withOffset(t, -90))}`,
    ];
    for (const q of forms) expect(ids(await listAll(sim, pid, q))).toEqual(ids(expected));
    const justBefore = await listAll(sim, pid, `start=${hourBefore}Z&end=${new Date(Date.parse(t) - 1000).toISOString().slice(0, 19)}.999999Z`);
    expect(ids(justBefore)).toEqual(ids(expected.filter((i) => i.created !== onHour.created)));
    const nanos = await listAll(sim, pid, `start=${hourBefore}.0000001Z&end=${t}`);
    expect(ids(nanos)).toEqual(ids(expected.filter((i) => i.created !== `${hourBefore}.000000Z`)));
  });

  it("reads a date-only end as the whole day and a missing bound as unbounded", async () => {
    const visible = sim.visibleTruth(pid);
    const day = visible.filter((i) => i.created.startsWith("2026-08-19"));
    expect(ids(await listAll(sim, pid, "start=2026-08-19&end=2026-08-19"))).toEqual(ids(day));
    expect(ids(await listAll(sim, pid, "start=2026-08-19T00:00:00Z&end=2026-08-19"))).toEqual(ids(day));
    expect(ids(await listAll(sim, pid, "end=2026-08-19"))).toEqual(ids(visible.filter((i) => i.created < "2026-08-20")));
  });

  it("lists only records inside the horizon and not after now, following the clock", async () => {
    const truth = sim.truth(pid);
    const horizon = (now: string) => new Date(Date.parse(now) - 90 * 86_400_000).toISOString().replace("Z", "000Z");
    const expectVisible = (now: string) => between(truth, horizon(now), now.replace("Z", "000Z"));
    expect(ids(await listAll(sim, pid, "start=2000-01-01"))).toEqual(ids(expectVisible(NOW)));
    expect(truth.length - sim.visibleTruth(pid).length).toBeGreaterThan(100);
    clock.set("2026-08-25T12:00:00.000Z");
    const later = await listAll(sim, pid, "start=2000-01-01&end=2030-01-01");
    expect(ids(later)).toEqual(ids(expectVisible("2026-08-25T12:00:00.000Z")));
    expect(sim.visibleTruth(pid)).toHaveLength(later.length);
    clock.set("2026-08-20T09:00:00.000Z");
    const earlier = await listAll(sim, pid, "start=2026-08-20");
    expect(ids(earlier)).toEqual(ids(between(truth, "2026-08-20T00:00:00.000000Z", "2026-08-20T09:00:00.000000Z")));
    expect(sim.truth(pid)).toHaveLength(3800);
  });

  it("serves one request by id, and 404 for unknown ids", async () => {
    const item = sim.visibleTruth(pid)[17]!;
    const r = await get(sim, `${base}/requests/${item.request_id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(item);
    const old = sim.truth(pid).at(-1)!;
    expect((await get(sim, `${base}/requests/${old.request_id}`)).status).toBe(404);
    const missing = await get(sim, `${base}/requests/00000000-0000-4000-8000-000000000000`);
    expect(missing.status).toBe(404);
    expect(missing.body.category).toBe("NOT_FOUND");
  });

  it("answers 401 without the right key, with the request id in body and header", async () => {
    for (const auth of [undefined, "Token wrong", `Bearer ${KEY}`, KEY]) {
      const r = await get(sim, "/v1/projects", { headers: auth ? { Authorization: auth } : {} });
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ err_code: "INVALID_AUTH", err_msg: "Invalid credentials.", request_id: r.headers.get("dg-request-id") });
    }
  });

  it("answers 404 for unknown projects and paths", async () => {
    const r = await get(sim, "/v1/projects/4b3c2d1e-0000-4000-8000-000000000000/requests");
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ category: "NOT_FOUND", message: "A project with the submitted ID cannot be found.", request_id: r.headers.get("dg-request-id") });
    for (const path of ["/v1/nothing", `${base}/billing`, "/", `${base}/requests/a/b`, `${base}/keys/x`, "/v1/projects/"]) {
      const x = await get(sim, path);
      expect([x.status, x.text]).toEqual([404, "Not Found"]);
    }
    expect((await get(sim, "/v1/projects", { method: "POST" })).status).toBe(404);
  });

  it("answers 400 INVALID_QUERY_PARAMETER for unparsable parameters", async () => {
    const bad = [
      "start=yesterday",
      "end=2026-02-30",
      "start=2026-08-19T25:00:00Z",
      "start=2026-08-19T10:00:00+02:00", // an unencoded + decodes to a space
      "start=2026-08-19 10:00:00",
      "start=",
      "limit=abc",
      "limit=1.5",
      "limit=-1",
      "page=-1",
      "page=x",
    ];
    for (const q of bad) {
      const r = await get(sim, `${base}/requests?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.err_code).toBe("INVALID_QUERY_PARAMETER");
      expect(r.body.err_msg).toMatch(/^Failed to deserialize query parameters: /);
    }
    const u = await get(sim, `${base}/usage?start=2026-08-01T00:00:00Z&end=2026-08-02`);
    expect([u.status, u.body.err_code]).toEqual([400, "INVALID_QUERY_PARAMETER"]);
  });

  it("serves /usage per UTC day with an inclusive end, not limited by the horizon", async () => {
    const r = await get(sim, `${base}/usage?start=2026-05-16&end=2026-05-19`);
    expect(r.status).toBe(200);
    expect(r.body.start).toBe("2026-05-16");
    expect(r.body.end).toBe("2026-05-19");
    expect(r.body.resolution).toEqual({ units: "day", amount: 1 });
    expect(r.body.results.map((x: Json) => x.start)).toEqual(["2026-05-16", "2026-05-17", "2026-05-18", "2026-05-19"]);
    expect(r.body.results[0]).toEqual({ start: "2026-05-16", end: "2026-05-16", hours: 0, total_hours: 0, requests: 0, tokens: { in: 0, out: 0 }, tts: { characters: 0, requests: 0 } });
    for (const res of r.body.results) {
      const u = sim.usageDay(pid, res.start);
      expect({ requests: res.requests, hours: res.hours, total_hours: res.total_hours }).toEqual(u);
    }
    expect(r.body.results[2].requests).toBeGreaterThan(0);
    const day = sim.truth(pid).filter((i) => i.created.startsWith("2026-08-19") && response(i));
    const one = (await get(sim, `${base}/usage?start=2026-08-19&end=2026-08-19`)).body.results[0];
    const tts = day.flatMap((i) => (response(i)!.tts_details?.speech_segments as Json[] | undefined) ?? []);
    const tokens = day.flatMap((i) => (response(i)!.token_details as Json[] | undefined) ?? []);
    expect(one.tts).toEqual({ characters: tts.reduce((s, x) => s + x.characters, 0), requests: day.filter((i) => response(i)!.tts_details).length });
    expect(one.tokens).toEqual({ in: tokens.reduce((s, x) => s + x.input, 0), out: tokens.reduce((s, x) => s + x.output, 0) });
  });
});

describe("simulator faults", () => {
  const clock = new ManualClock(NOW);
  const sim = createSimulator(options({ clock, slowMs: 300, perDay: 10, days: 3 }));
  const pid = sim.projects()[0]!.project_id;
  const page = `/v1/projects/${pid}/requests?limit=5`;
  beforeAll(() => sim.start());
  afterAll(() => sim.stop());

  const tooMany = { err_code: "TOO_MANY_REQUESTS", err_msg: "Too many requests. Please try again later" };

  it("serves 429s with seconds, with an HTTP-date from the simulator clock, and bare", async () => {
    sim.control.queueFaults(["429-retry-after-seconds", "429-retry-after-date", "429-bare"]);
    const a = await get(sim, page);
    expect([a.status, a.headers.get("retry-after"), a.body]).toEqual([429, "1", tooMany]);
    const b = await get(sim, page);
    expect(b.status).toBe(429);
    expect(Date.parse(b.headers.get("retry-after")!)).toBe(Date.parse(NOW) + 2000);
    const c = await get(sim, page);
    expect([c.status, c.headers.get("retry-after"), c.body]).toEqual([429, null, tooMany]);
    expect((await get(sim, page)).status).toBe(200);
  });

  it("serves 500, 502 and 503 on any endpoint", async () => {
    sim.control.queueFaults(["500", "502", "503"]);
    const a = await get(sim, "/v1/projects");
    expect([a.status, a.body.err_code]).toEqual([500, "INTERNAL_SERVER_ERROR"]);
    const b = await get(sim, `/v1/projects/${pid}/keys`);
    expect([b.status, b.headers.get("content-type")]).toEqual([502, "text/html"]);
    const c = await get(sim, `/v1/projects/${pid}/usage`);
    expect([c.status, c.body.error_code]).toEqual([503, "SERVICE_UNAVAILABLE"]);
  });

  it("resets the connection, truncates a body, and stalls without crashing when the client gives up", async () => {
    const before = sim.stats();
    sim.control.queueFaults(["reset", "truncated", "slow", "slow"]);
    await expect(fetch(sim.url + page, { headers: { Authorization: `Token ${KEY}` } })).rejects.toThrow();
    const cut = await fetch(sim.url + page, { headers: { Authorization: `Token ${KEY}` } });
    expect(cut.status).toBe(200);
    expect(Number(cut.headers.get("content-length"))).toBeGreaterThan(100);
    await expect(cut.text()).rejects.toThrow();
    await expect(fetch(sim.url + page, { headers: { Authorization: `Token ${KEY}` }, signal: AbortSignal.timeout(50) })).rejects.toThrow();
    const started = performance.now();
    const slow = await get(sim, page);
    expect(slow.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect((await get(sim, page)).status).toBe(200);
    const after = sim.stats();
    expect(after.requestsServed - before.requestsServed).toBe(5);
    for (const k of ["reset", "truncated"] as const) expect(after.faultsInjected[k] - before.faultsInjected[k]).toBe(1);
    expect(after.faultsInjected.slow - before.faultsInjected.slow).toBe(2);
    // Only the answered slow page and the last one were whole pages.
    expect(after.pagesServed - before.pagesServed).toBe(2);
  });

  it("injects random faults at the configured rate from the seeded stream", async () => {
    sim.control.setFaultRate(1, ["503"]);
    for (let i = 0; i < 3; i++) expect((await get(sim, "/v1/projects")).status).toBe(503);
    sim.control.setFaultRate(0.5, ["500"]);
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await get(sim, "/v1/projects")).status);
    expect(statuses.filter((s) => s === 500).length).toBeGreaterThan(8);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(8);
    sim.control.setFaultRate(0);
    expect((await get(sim, "/v1/projects")).status).toBe(200);
    expect(() => sim.control.setFaultRate(2)).toThrow(RangeError);
  });

  it("adds the configured latency to /requests pages", async () => {
    sim.control.setLatency(150);
    const started = performance.now();
    expect((await get(sim, page)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    sim.control.setLatency(0);
    expect(() => sim.control.setLatency(-1)).toThrow(RangeError);
  });
});

describe("simulator controls", () => {
  const clock = new ManualClock(NOW);
  const sim = createSimulator(options({ clock, days: 4, perDay: 1500 }));
  const [a, b] = sim.projects().map((p) => p.project_id) as [string, string];
  beforeAll(() => sim.start());
  afterAll(() => sim.stop());

  it("completes pending records, leaving ~10% lost when asked", () => {
    const pendingA = ids(sim.truth(a).filter((i) => i.response === null));
    const pendingB = ids(sim.truth(b).filter((i) => i.response === null));
    expect(pendingA.length).toBeGreaterThan(5);
    const done = sim.control.completePending({ projectId: a, leaveLost: true });
    const lost = ids(sim.truth(a).filter((i) => i.response === null));
    expect([...done, ...lost].sort()).toEqual([...pendingA].sort());
    expect(lost.length).toBeLessThan(pendingA.length / 2);
    for (const item of sim.truth(a).filter((i) => done.includes(i.request_id))) expect(response(item)!.completed).toMatch(CREATED_RE);
    expect(sim.control.completePending({ projectId: a, leaveLost: true })).toEqual([]);
    expect(sim.control.completePending({ projectId: a })).toEqual([]);
    expect(sim.control.completePending().sort()).toEqual([...pendingB].sort());
  });

  it("mutates exactly the records it names, recent ones first", () => {
    const before = new Map(sim.truth(a).map((i) => [i.request_id, JSON.stringify(i)]));
    const changed = sim.control.mutate(12, { projectId: a });
    expect(new Set(changed).size).toBe(12);
    const after = sim.truth(a);
    const differs = after.filter((i) => before.get(i.request_id) !== JSON.stringify(i));
    expect(ids(differs).sort()).toEqual([...changed].sort());
    for (const item of differs) {
      expect(item.created >= "2026-08-18T12:00:00.000000Z").toBe(true);
      const old = JSON.parse(before.get(item.request_id)!);
      expect({ ...item, response: null, callback: null }).toEqual({ ...old, response: null, callback: null });
    }
  });

  it("adds late records in the recent past, visible through the API", async () => {
    const late = sim.control.addLate(4, { projectId: b, withinHours: 3 });
    expect(late).toHaveLength(4);
    for (const item of late) {
      expect(item.created >= "2026-08-20T09:00:00.000000Z" && item.created < "2026-08-20T12:00:00.000000Z").toBe(true);
      expect(response(item)).not.toBeNull();
    }
    expect(sim.recordCount(b)).toBe(6004);
    const listed = await listAll(sim, b, "start=2026-08-20T09:00:00Z");
    for (const item of late) {
      expect(listed.find((x) => x.request_id === item.request_id)).toEqual(item);
      expect((await get(sim, `/v1/projects/${b}/requests/${item.request_id}`)).body).toEqual(item);
    }
    expect(ids(listed)).toEqual(ids(between(sim.truth(b), "2026-08-20T09:00:00.000000Z", "2026-08-20T12:00:00.000000Z")));
  });

  it("moves the listing while a window is paged", async () => {
    const window = "start=2026-08-18T00:00:00Z&end=2026-08-18T23:59:59.999999Z";
    const url = `/v1/projects/${a}/requests?${window}&limit=100`;
    const page0 = (await get(sim, `${url}&page=0`)).body.requests as RequestItem[];
    const beforeCount = sim.recordCount(a);
    sim.control.insertDuringPaging({ projectId: a, count: 3 });
    const page1 = (await get(sim, `${url}&page=1`)).body.requests as RequestItem[];
    expect(sim.recordCount(a)).toBe(beforeCount + 3);
    expect(ids(page1.slice(0, 3))).toEqual(ids(page0.slice(97)));
    // Fired once: the next page is not disturbed again.
    const page2 = (await get(sim, `${url}&page=2`)).body.requests as RequestItem[];
    expect(ids(page2).filter((id) => ids(page1).includes(id))).toEqual([]);
    const whole = await listAll(sim, a, window);
    expect(ids(whole)).toEqual(ids(between(sim.truth(a), "2026-08-18T00:00:00.000000Z", "2026-08-18T23:59:59.999999Z")));
    expect(new Set(ids(whole)).size).toBe(whole.length);
  });

  it("over-reports /usage for one day only", async () => {
    sim.control.overReportUsage(a, "2026-08-19", 7);
    const r = await get(sim, `/v1/projects/${a}/usage?start=2026-08-18&end=2026-08-19`);
    expect(r.body.results.map((x: Json) => x.requests)).toEqual([sim.usageDay(a, "2026-08-18").requests, sim.usageDay(a, "2026-08-19").requests + 7]);
  });

  it("forbids one project and then revokes the key", async () => {
    sim.control.forbidProject(b);
    for (const path of ["requests", "usage", "keys", "requests/x"]) {
      const r = await get(sim, `/v1/projects/${b}/${path}`);
      expect([r.status, r.body.category, r.body.message]).toEqual([403, "UNAUTHORIZED", "Insufficient permissions."]);
    }
    expect((await get(sim, `/v1/projects/${a}/keys`)).status).toBe(200);
    expect((await get(sim, "/v1/projects")).body.projects).toHaveLength(2);
    sim.control.revokeKey();
    for (const path of ["/v1/projects", `/v1/projects/${a}/requests`]) expect((await get(sim, path)).status).toBe(401);
  });
});

describe("simulator lifecycle and scale", () => {
  it("starts via serveSimulator, stops idempotently, and drops in-flight slow answers", async () => {
    const sim = await serveSimulator({ ...options({ slowMs: 5000, days: 1, perDay: 10 }), port: 0 });
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    sim.control.queueFaults(["slow"]);
    const pending = fetch(`${sim.url}/v1/projects`, { headers: { Authorization: `Token ${KEY}` } }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await sim.stop();
    await sim.stop();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
    expect(() => sim.url).toThrow(/not started/);
  });

  it("generates 1,000,000 records in one project quickly and pages them by binary search", async () => {
    const started = performance.now();
    const sim = createSimulator(options({ projects: 1, days: 100, perDay: 10_000 }));
    const elapsed = performance.now() - started;
    const pid = sim.projects()[0]!.project_id;
    expect(sim.recordCount(pid)).toBe(1_000_000);
    expect(elapsed).toBeLessThan(10_000);
    await sim.start();
    try {
      const r = await get(sim, `/v1/projects/${pid}/requests?start=2026-06-01&end=2026-06-30&limit=1000&page=150`);
      expect([r.status, r.body.requests.length]).toEqual([200, 1000]);
      const created = (r.body.requests as RequestItem[]).map((i) => i.created);
      expect([...created].sort().reverse()).toEqual(created);
      expect(created[0]! < "2026-07-01" && created.at(-1)! >= "2026-06-01").toBe(true);
      const one = r.body.requests[500] as RequestItem;
      expect((await get(sim, `/v1/projects/${pid}/requests/${one.request_id}`)).body).toEqual(one);
    } finally {
      await sim.stop();
    }
  });
});
