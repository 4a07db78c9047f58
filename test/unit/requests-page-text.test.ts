import { describe, expect, it } from "vitest";
import { parseRequestsPage } from "../../src/deepgram/schemas.js";

const parse = (text: string) => parseRequestsPage(JSON.parse(text), { page: 0, limit: 10 }, text);
const item = (id: string, extra: Record<string, unknown> = {}) => ({ request_id: id, created: "2026-08-20T14:05:09.118204Z", ...extra });

describe("a /requests page's text for the store", () => {
  it("is handed on with each valid item's place in requests", () => {
    const text = JSON.stringify({ page: 0, limit: 10, requests: [item("a"), { created: "x" }, item("b", { tags: ["日本", 'q"uote'] })] });
    const page = parse(text);
    expect(page.items.map((i) => i.request_id)).toEqual(["a", "b"]);
    expect(page.itemIndexes).toEqual([0, 2]);
    expect(page.pageText).toBe(text);
  });

  it("is withheld where Postgres would not read it as JSON.parse did", () => {
    for (const hostile of [{ s: "nul \u0000" }, { s: "lone \ud800" }]) {
      expect(parse(JSON.stringify({ requests: [item("a", hostile)] })).pageText, JSON.stringify(hostile)).toBeNull();
    }
    expect(parse('{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "n": 1e99999}]}').pageText).toBeNull();
    expect(parse(`{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "n": ${"9".repeat(1200)}}]}`).pageText).toBeNull();
  });

  it("stays on for look-alikes inside strings and for ordinary numbers", () => {
    const text = JSON.stringify({ requests: [item("8e12345", { usd: 1.5e-7, big: 1e21, path: "/v1/listen?x=e99999" })] });
    expect(parse(text).pageText).toBe(text);
  });

  it("is absent without the text, or without valid items", () => {
    expect(parseRequestsPage({ requests: [item("a")] }, { page: 0, limit: 10 }).pageText).toBeNull();
    expect(parse(JSON.stringify({ requests: [{ request_id: 1 }] })).pageText).toBeNull();
  });
});
