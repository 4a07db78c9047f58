/**
 * Schema drift a test can switch on for chosen records: the shapes the item has been seen in
 * (spec vs hand-written SDKs), numbers sent as strings, and items an archiver cannot store as a
 * row at all. See ../shared/deepgram-api.md §2 and §9.6.
 */
import type { DriftKind, RequestItem } from "./types.js";

type Item = Record<string, unknown>;

const stringify = (v: unknown): unknown => (typeof v === "number" ? String(v) : v);

export const DRIFTS: Record<DriftKind, (item: RequestItem) => RequestItem> = {
  "no-request-id": (item) => {
    const { request_id: _drop, ...rest } = item;
    return rest as RequestItem;
  },
  "bad-created": (item) => ({ ...item, created: "yesterday afternoon" }),
  "numbers-as-strings": (item) => {
    const response = item.response as Item | null;
    const details = response?.details as Item | undefined;
    if (!response || !details) return { ...item, code: "200" };
    const d: Item = {};
    for (const [k, v] of Object.entries(details)) d[k] = stringify(v);
    return { ...item, response: { ...response, code: stringify(response.code), details: d } };
  },
  "callback-string": (item) => ({ ...item, callback: "https://hooks.example.com/deepgram?id=1" }),
  "top-level-code": (item) => {
    const response = item.response as Item | null;
    if (!response) return { ...item, code: 200 };
    const { code, ...rest } = response;
    return { ...item, code: code ?? 200, response: rest };
  },
  "response-null": (item) => ({ ...item, response: null }),
  "unknown-fields": (item) => ({ ...item, x_drift: { added: ["in", "2027"], nested: { n: 1.5 } }, region: "eu" }),
  "missing-optional": (item) => {
    const { path: _p, api_key_id: _k, accessor: _a, callback: _c, project_uuid: _u, deployment: _d, ...rest } = item;
    return rest as RequestItem;
  },
};
