import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { ROOT } from "../helpers/cli.js";
import { describeItem } from "../helpers/usage-truth.js";

const DAY = 86_400_000;
/** The dates docs/queries.md uses: the archive below covers them. */
const MONTH = "2026-03";
const FAILED_DAY = "2026-03-14";
const MISMATCH_DAY = "2026-03-10";

/** Each ```sql block of docs/queries.md with the heading above it. */
function queriesInDoc(): Array<{ title: string; text: string }> {
  const doc = readFileSync(`${ROOT}/docs/queries.md`, "utf8");
  const out: Array<{ title: string; text: string }> = [];
  let title = "";
  const re = /^## (.+)$|^```sql\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(doc); m; m = re.exec(doc)) {
    if (m[1] !== undefined) title = m[1];
    else out.push({ title, text: m[2]! });
  }
  return out;
}

let f: ArchiveFixture;
const results = new Map<string, Array<Record<string, unknown>>>();

beforeAll(async () => {
  f = await createArchiveFixture("queries", { now: "2026-03-20T12:20:00Z", sim: { days: 30, perDay: 30 }, settings: { windowMs: DAY } });
  for (const p of f.sim.projects()) f.sim.control.overReportUsage(p.project_id, MISMATCH_DAY, 7);
  const report = await f.sync();
  expect(report.outcome).toBe("succeeded");
});
afterAll(async () => {
  await f?.close();
});

/** Every archived record (all of them are inside the horizon and settled before 2026-03-20). */
function archived() {
  return f.sim.projects().flatMap((p) =>
    f.sim
      .truth(p.project_id)
      .filter((t) => t.created < "2026-03-20T00:00:00")
      .map((t) => ({ projectId: p.project_id, item: t, d: describeItem(t) })),
  );
}
const cents = (micro: number) => (Math.round(micro / 10_000) / 100).toFixed(2);
const result = (prefix: string) => [...results.entries()].find(([title]) => title.startsWith(prefix))![1];

describe("docs/queries.md", () => {
  const queries = queriesInDoc();

  it("has the five documented queries", () => {
    expect(queries.map((q) => q.title)).toEqual([
      "1. Cost and hours per key, per month",
      "2. Daily hours per model",
      "3. Failed requests of a day, with their messages",
      "4. Usage by tag",
      "5. Days where reconciliation failed",
    ]);
  });

  it.each(queriesInDoc())("runs '$title' and returns rows", async ({ title, text }) => {
    const r = await sql.raw<Record<string, unknown>>(text).execute(f.database.db);
    expect(r.rows.length).toBeGreaterThan(0);
    results.set(title, r.rows);
  });

  it("1: cost and hours per key per month equal the truth, with each key's comment", () => {
    const expected = new Map<string, { requests: number; centis: number; micro: number; comment: string }>();
    const comments = new Map(f.sim.projects().flatMap((p) => f.sim.keys(p.project_id).map((k) => [`${p.project_id} ${k.api_key_id}`, k.comment] as const)));
    for (const { projectId, item, d } of archived()) {
      const key = `${item.created.slice(0, 7)} ${projectId} ${d.api_key_id}`;
      const e = expected.get(key) ?? { requests: 0, centis: 0, micro: 0, comment: comments.get(`${projectId} ${d.api_key_id}`)! };
      e.requests++;
      e.centis += d.centis;
      e.micro += d.microUsd;
      expected.set(key, e);
    }
    const rows = result("1.") as Array<{ month: string; project_id: string; api_key_id: string; key_comment: string; requests: string; hours: string; usd: string }>;
    expect(new Map(rows.map((r) => [`${r.month} ${r.project_id} ${r.api_key_id}`, { requests: Number(r.requests), usd: r.usd, comment: r.key_comment }]))).toEqual(
      new Map([...expected].map(([k, e]) => [k, { requests: e.requests, usd: cents(e.micro), comment: e.comment }])),
    );
    for (const r of rows) expect(Math.abs(Number(r.hours) - expected.get(`${r.month} ${r.project_id} ${r.api_key_id}`)!.centis / 360_000)).toBeLessThanOrEqual(0.005 + 1e-9);
    expect(new Set(rows.map((r) => r.month))).toEqual(new Set(["2026-02", MONTH]));
  });

  it("2: daily hours per model equal the truth for the month", () => {
    const expected = new Map<string, { requests: number; centis: number }>();
    for (const { item, d } of archived()) {
      if (!item.created.startsWith(MONTH)) continue;
      const key = `${item.created.slice(0, 10)} ${d.model}`;
      const e = expected.get(key) ?? { requests: 0, centis: 0 };
      e.requests++;
      e.centis += d.centis;
      expected.set(key, e);
    }
    const rows = result("2.") as Array<{ day: Date; model: string; requests: string; hours: string }>;
    const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    expect(new Map(rows.map((r) => [`${day(r.day)} ${r.model}`, Number(r.requests)]))).toEqual(new Map([...expected].map(([k, e]) => [k, e.requests])));
    for (const r of rows) expect(Math.abs(Number(r.hours) - expected.get(`${day(r.day)} ${r.model}`)!.centis / 360_000)).toBeLessThanOrEqual(0.0005 + 1e-9);
  });

  it("3: the failed requests of the day, in order, with Deepgram's messages", () => {
    const expected = archived()
      .filter(({ item, d }) => item.created.startsWith(FAILED_DAY) && d.status === "failed")
      .sort((a, b) => (a.item.created < b.item.created ? -1 : a.item.created > b.item.created ? 1 : a.item.request_id < b.item.request_id ? -1 : 1))
      .map(({ projectId, item, d }) => ({ project_id: projectId, request_id: item.request_id, code: d.code, message: d.message }));
    expect(expected.length).toBeGreaterThan(0);
    const rows = result("3.") as Array<{ project_id: string; request_id: string; code: number; message: string; created: Date }>;
    expect(rows.map((r) => ({ project_id: r.project_id, request_id: r.request_id, code: r.code, message: r.message }))).toEqual(expected);
  });

  it("4: usage by tag equals the truth, each distinct tag of a request counted once", () => {
    const expected = new Map<string, { requests: number; micro: number }>();
    for (const { item, d } of archived()) {
      if (!item.created.startsWith(MONTH)) continue;
      for (const tag of d.tags.length ? d.tags : ["(untagged)"]) {
        const e = expected.get(tag) ?? { requests: 0, micro: 0 };
        e.requests++;
        e.micro += d.microUsd;
        expected.set(tag, e);
      }
    }
    const rows = result("4.") as Array<{ tag: string; requests: string; usd: string }>;
    expect(new Map(rows.map((r) => [r.tag, { requests: Number(r.requests), usd: r.usd }]))).toEqual(new Map([...expected].map(([k, e]) => [k, { requests: e.requests, usd: cents(e.micro) }])));
  });

  it("5: the days where reconciliation failed are exactly the over-reported day of each project", () => {
    const rows = result("5.") as Array<{ project_id: string; project: string; archived_requests: string; vendor_requests: string; missing_requests: string; refetch_count: number }>;
    expect(
      rows.map((r) => ({ project_id: r.project_id, project: r.project, archived: Number(r.archived_requests), vendor: Number(r.vendor_requests), missing: Number(r.missing_requests) })).sort((a, b) => a.project_id.localeCompare(b.project_id)),
    ).toEqual(
      f.sim
        .projects()
        .map((p) => ({ project_id: p.project_id, project: p.name, archived: f.sim.usageDay(p.project_id, MISMATCH_DAY).requests, vendor: f.sim.usageDay(p.project_id, MISMATCH_DAY).requests + 7, missing: 7 }))
        .sort((a, b) => a.project_id.localeCompare(b.project_id)),
    );
  });
});
