import { sql, type Kysely } from "kysely";
import { DateTime } from "luxon";

/**
 * Day rollups computed in TypeScript straight from simulator items, independently of the SQL
 * summarizer, for comparing with what the archive built. Sums are kept as integers (centiseconds
 * of audio, micro-dollars) so the comparison is exact: the simulator rounds durations to 0.01 s
 * and prices to 1e-6 USD.
 */
export interface RollupRow {
  project_id: string;
  day: string;
  api_key_id: string;
  endpoint: string;
  method: string;
  model: string;
  status: string;
  requests: number;
  /** Audio, in hundredths of a second (hours * 360000). */
  centis: number;
  totalCentis: number;
  microUsd: number;
}

export interface TotalsRow {
  project_id: string;
  day: string;
  requests: number;
  succeeded: number;
  failed: number;
  pending: number;
  centis: number;
  totalCentis: number;
  microUsd: number;
}

type Item = Record<string, unknown> & { request_id: string; created: string };
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null);

export function localDay(created: string, zone: string): string {
  return DateTime.fromISO(created, { zone }).toISODate()!;
}

/** The rollup dimensions and figures of one item, as the issue defines them. */
export function describeItem(item: Item) {
  const response = obj(item.response);
  const details = obj(response?.details);
  const config = obj(details?.config);
  const code = typeof response?.code === "number" ? response.code : typeof item.code === "number" ? item.code : null;
  const status = response === null ? "pending" : code !== null ? (code >= 400 ? "failed" : "succeeded") : typeof response.message === "string" ? "failed" : "pending";
  const path = typeof item.path === "string" ? item.path : "";
  const endpoint = /^\/v\d+\/(listen|speak|read|agent)(?=[/?]|$)/.exec(path)?.[1] ?? "other";
  const models = Array.isArray(details?.models) ? (details!.models as string[]) : [];
  const model = typeof config?.model === "string" && config.model !== "" ? config.model : (models[0] ?? "");
  const num = (v: unknown) => (typeof v === "number" ? v : 0);
  return {
    api_key_id: typeof item.api_key_id === "string" ? item.api_key_id : "",
    endpoint,
    method: typeof details?.method === "string" ? details.method : "",
    model,
    status,
    centis: Math.round(num(details?.duration) * 100),
    totalCentis: Math.round(num(details?.total_audio) * 100),
    microUsd: Math.round(num(details?.usd) * 1e6),
    tags: [...new Set(Array.isArray(details?.tags) ? (details!.tags as string[]) : [])],
    message: typeof response?.message === "string" ? response.message : null,
    code,
  };
}

export function aggregateRollups(projectId: string, items: Item[], zone: string): RollupRow[] {
  const groups = new Map<string, RollupRow>();
  for (const item of items) {
    const d = describeItem(item);
    const row = { project_id: projectId, day: localDay(item.created, zone), api_key_id: d.api_key_id, endpoint: d.endpoint, method: d.method, model: d.model, status: d.status };
    const key = JSON.stringify(row);
    const g = groups.get(key) ?? { ...row, requests: 0, centis: 0, totalCentis: 0, microUsd: 0 };
    g.requests++;
    g.centis += d.centis;
    g.totalCentis += d.totalCentis;
    g.microUsd += d.microUsd;
    groups.set(key, g);
  }
  return sortRollups([...groups.values()]);
}

export function totalsOf(rows: RollupRow[]): TotalsRow[] {
  const out = new Map<string, TotalsRow>();
  for (const r of rows) {
    const key = `${r.project_id} ${r.day}`;
    const t = out.get(key) ?? { project_id: r.project_id, day: r.day, requests: 0, succeeded: 0, failed: 0, pending: 0, centis: 0, totalCentis: 0, microUsd: 0 };
    t.requests += r.requests;
    t[r.status as "succeeded" | "failed" | "pending"] += r.requests;
    t.centis += r.centis;
    t.totalCentis += r.totalCentis;
    t.microUsd += r.microUsd;
    out.set(key, t);
  }
  return [...out.values()].sort((a, b) => a.project_id.localeCompare(b.project_id) || a.day.localeCompare(b.day));
}

const rollupKey = (r: RollupRow) => [r.project_id, r.day, r.api_key_id, r.endpoint, r.method, r.model, r.status].join("\u0000");
export function sortRollups(rows: RollupRow[]): RollupRow[] {
  return rows.sort((a, b) => (rollupKey(a) < rollupKey(b) ? -1 : rollupKey(a) > rollupKey(b) ? 1 : 0));
}

/** daily_usage as stored, in the same integer units. */
export async function loadRollups(db: Kysely<any>): Promise<RollupRow[]> {
  const r = await sql<RollupRow>`
    select project_id, day::text as day, api_key_id, endpoint, method, model, status, requests::int as requests,
      round(hours * 360000)::int as centis, round(total_hours * 360000)::int as "totalCentis", (usd * 1000000)::bigint::int as "microUsd"
    from deepgram_archive.daily_usage`.execute(db);
  return sortRollups(r.rows);
}

/** The daily_usage_totals view, in the same integer units. */
export async function loadTotals(db: Kysely<any>): Promise<TotalsRow[]> {
  const r = await sql<TotalsRow>`
    select project_id, day::text as day, requests::int as requests, succeeded::int as succeeded, failed::int as failed, pending::int as pending,
      round(hours * 360000)::int as centis, round(total_hours * 360000)::int as "totalCentis", (usd * 1000000)::bigint::int as "microUsd"
    from deepgram_archive.daily_usage_totals`.execute(db);
  return r.rows.sort((a, b) => a.project_id.localeCompare(b.project_id) || a.day.localeCompare(b.day));
}
