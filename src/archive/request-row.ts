/**
 * Maps a request log item, exactly as Deepgram sent it, to the typed columns of
 * deepgram_archive.requests. Tolerant by design: the item shape is loosely specified and has
 * drifted (top-level `code` vs `response.code`, `callback` as object or string, numbers as
 * strings), so every extraction accepts each known form and yields null rather than throwing.
 * The raw item is stored beside the columns, so nothing is lost when a field is not understood.
 *
 * The store takes the columns that are the item's own strings (request_id, created, path,
 * api_key_id, accessor, deployment) from the stored raw in SQL, by the same rule as `text` below
 * (request-store.ts, itemText); test/db/request-store.test.ts holds the two equal.
 */

export type RequestStatus = "succeeded" | "failed" | "pending";
export type Endpoint = "listen" | "speak" | "read" | "agent" | "other";

export interface RequestRow {
  request_id: string;
  created: string;
  path: string | null;
  endpoint: Endpoint;
  api_key_id: string | null;
  accessor: string | null;
  deployment: string | null;
  method: string | null;
  code: number | null;
  status: RequestStatus;
  completed: string | null;
  duration_seconds: number | null;
  total_audio_seconds: number | null;
  usd: number | null;
  channels: number | null;
  streams: number | null;
  models: string[];
  tags: string[];
  features: string[];
  callback_code: number | null;
  /**
   * The item as parsed. The fetcher sets it to null once `raw_source` holds the item's bytes, so a
   * page waiting for the commit before it holds no parsed items (bench/README.md, item 24).
   */
  raw: Record<string, unknown> | null;
  /**
   * `raw` as Deepgram sent it (its UTF-8 JSON text), when Postgres reads that text as is (see
   * parseRequestsPage); else the store serializes `raw`.
   */
  raw_source?: Buffer;
}

export function toRequestRow(item: Record<string, unknown> & { request_id: string; created: string }): RequestRow {
  const response = asObject(item.response);
  const details = asObject(response?.details) ?? {};
  const callback = asObject(item.callback);
  const code = toInt(response?.code) ?? toInt(item.code);
  const models = stringList(details.models);
  const singleModel = text(details.model);
  if (models.length === 0 && singleModel !== null) models.push(singleModel);
  return {
    request_id: item.request_id,
    created: item.created,
    path: text(item.path),
    endpoint: endpointOf(text(item.path), text(item.endpoint)),
    api_key_id: text(item.api_key_id),
    accessor: text(item.accessor),
    deployment: text(item.deployment),
    method: text(details.method),
    code,
    status: statusOf(code, response),
    completed: timestamp(response?.completed),
    duration_seconds: toNumber(details.duration),
    total_audio_seconds: toNumber(details.total_audio),
    usd: toNumber(details.usd),
    channels: toInt(details.channels),
    streams: toInt(details.streams),
    models,
    tags: stringList(details.tags),
    features: stringList(details.features),
    callback_code: toInt(callback?.code),
    raw: item,
  };
}

/** Deepgram's own split: succeeded is a code below 300, failed 400 and above; no response yet is pending. */
export function statusOf(code: number | null, response: Record<string, unknown> | null): RequestStatus {
  if (code !== null) return code >= 400 ? "failed" : "succeeded";
  if (response && typeof response.message === "string") return "failed";
  return "pending";
}

export function endpointOf(path: string | null, declared: string | null): Endpoint {
  const known = ["listen", "speak", "read", "agent"] as const;
  const fromPath = path ? /^\/v\d+\/(listen|speak|read|agent)(?=[/?]|$)/.exec(path)?.[1] : undefined;
  const name = fromPath ?? declared ?? "";
  return (known as readonly string[]).includes(name) ? (name as Endpoint) : "other";
}

function asObject(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function text(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function toNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function toInt(v: unknown): number | null {
  const n = toNumber(v);
  return n !== null && Number.isInteger(n) && Math.abs(n) <= 2_147_483_647 ? n : null;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** Only plain ISO-8601 with a zone, which Postgres parses the same way everywhere. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)$/;

function timestamp(v: unknown): string | null {
  return typeof v === "string" && ISO_WITH_ZONE.test(v) && !Number.isNaN(Date.parse(v)) ? v : null;
}
