import { describe, expect, it } from "vitest";
import { requestsArrayTexts } from "../../src/deepgram/item-text.js";
import { parseRequestsPage } from "../../src/deepgram/schemas.js";

const split = (text: string) => requestsArrayTexts(text, (JSON.parse(text) as { requests: unknown[] }).requests.length);

describe("requestsArrayTexts", () => {
  it("returns each item's text as sent, whatever the spacing and nesting", () => {
    const items = [
      { request_id: "a", created: "2026-08-20T14:05:09Z", response: { details: { tags: ["x,y", "[z]", "{w}"] } } },
      { request_id: 'quote " and \\ backslash', created: "2026-08-20T14:05:09Z", path: "/v1/listen?a=1&b=[2]" },
      { request_id: "日本", created: "2026-08-20T14:05:09Z", n: [1, [2, [3]], { "}": "]" }] },
    ];
    for (const text of [JSON.stringify({ page: 0, limit: 10, requests: items }), JSON.stringify({ requests: items, limit: 10 }, null, 2)]) {
      const texts = split(text)!;
      expect(texts.map((t) => JSON.parse(t))).toEqual(items);
      expect(texts.every((t) => t === t.trim() && text.includes(t))).toBe(true);
    }
  });

  it("splits elements that are not objects, and an empty array", () => {
    expect(split('{"requests": [1, "two", null, true, [3], {"a": "]"}] }')).toEqual(["1", '"two"', "null", "true", "[3]", '{"a": "]"}']);
    expect(requestsArrayTexts('{"requests": []}', 0)).toEqual([]);
  });

  it("uses the last requests member, as JSON.parse does", () => {
    expect(split('{"requests": [{"x": 1}], "page": 0, "requests": [{"y": 2}, {"z": 3}]}')).toEqual(['{"y": 2}', '{"z": 3}']);
  });

  it("ignores a requests key that is not at the top level", () => {
    expect(split('{"meta": {"requests": [1, 2]}, "requests": [3]}')).toEqual(["3"]);
  });

  it("gives up rather than guess: escaped top-level keys, a count that does not match, no object", () => {
    expect(split('{"re\\u0071uests": [1], "requests": [2]}')).toBeNull();
    expect(requestsArrayTexts('{"requests": [1, 2]}', 3)).toBeNull();
    expect(requestsArrayTexts("[1, 2]", 2)).toBeNull();
  });

  it("agrees with JSON.parse on generated pages", () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const chars = ['"', "\\", "[", "]", "{", "}", ",", ":", " ", "a", "é", "\n", "\u0001"];
    const str = () => Array.from({ length: Math.floor(rnd() * 6) }, () => chars[Math.floor(rnd() * chars.length)]).join("");
    const value = (depth: number): unknown => {
      const r = rnd();
      if (depth > 3 || r < 0.3) return [str(), 1.5, -2e-7, null, true, false][Math.floor(rnd() * 6)];
      if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, () => [str(), value(depth + 1)]));
    };
    for (let i = 0; i < 300; i++) {
      const requests = Array.from({ length: Math.floor(rnd() * 5) }, () => value(0));
      const text = JSON.stringify({ [`k${str().replace(/["\\\u0000-\u001f]/g, "")}`]: value(0), requests, limit: 10 }, null, i % 2 ? 1 : undefined);
      const texts = split(text);
      expect(texts, text).not.toBeNull();
      expect(texts!.map((t) => JSON.parse(t))).toEqual(requests);
    }
  });

  it("is what parseRequestsPage hands on, aligned with the valid items only", () => {
    const body = { page: 0, limit: 3, requests: [{ request_id: "a", created: "2026-08-20T14:05:09Z" }, { created: "x" }, { request_id: "b", created: "2026-08-20T14:05:10Z" }] };
    const text = JSON.stringify(body);
    const page = parseRequestsPage(JSON.parse(text), { page: 0, limit: 3 }, text);
    expect(page.items.map((i) => i.request_id)).toEqual(["a", "b"]);
    expect(page.itemTexts).toEqual([JSON.stringify(body.requests[0]), JSON.stringify(body.requests[2])]);
    expect(parseRequestsPage(JSON.parse(text), { page: 0, limit: 3 }).itemTexts).toBeNull();
  });
});
