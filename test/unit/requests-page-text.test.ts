import { describe, expect, it } from "vitest";
import { decodeBody } from "../../src/deepgram/http.js";
import { parseRequestsPage } from "../../src/deepgram/schemas.js";

/** A page as the client reads it: the response's bytes decoded, then parsed. */
const parseBytes = (bytes: Buffer) => {
  const body = decodeBody(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  return parseRequestsPage(JSON.parse(body.text), { page: 0, limit: 10 }, body);
};
const parse = (text: string) => parseBytes(Buffer.from(text, "utf8"));
/** Each item's bytes as text, or null when the page's bytes are withheld. */
const bytesOf = (page: { itemBytes?: Buffer[] | null }) => (page.itemBytes ? page.itemBytes.map((b) => b.toString("utf8")) : page.itemBytes);
const item = (id: string, extra: Record<string, unknown> = {}) => ({ request_id: id, created: "2026-08-20T14:05:09.118204Z", ...extra });

describe("a /requests page's bytes for the store", () => {
  it("is handed on as each valid item's own bytes, as sent", () => {
    const b = ' {"request_id":"b", "created":"2026-08-20T14:05:09Z" ,"tags":["日本","q\\"uote","\\\\"]}';
    const text = `{"page":0,"requests": [ {"request_id":"a","created":"2026-08-20T14:05:09Z"},{"created":"x"},${b}\n], "limit":10}`;
    const page = parse(text);
    expect(page.items.map((i) => i.request_id)).toEqual(["a", "b"]);
    expect(bytesOf(page)).toEqual(['{"request_id":"a","created":"2026-08-20T14:05:09Z"}', b.trim()]);
    expect(page.items[1]).toEqual(JSON.parse(b));
  });

  it("is withheld where Postgres would not read it as JSON.parse did", () => {
    for (const hostile of [{ s: "nul \u0000" }, { s: "lone \ud800" }]) {
      expect(parse(JSON.stringify({ requests: [item("a", hostile)] })).itemBytes, JSON.stringify(hostile)).toBeNull();
    }
    expect(parse('{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "n": 1e99999}]}').itemBytes).toBeNull();
    expect(parse(`{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "n": ${"9".repeat(1200)}}]}`).itemBytes).toBeNull();
  });

  it("is withheld exactly where one scan of the whole text by the full patterns would withhold it", () => {
    // The reference: the check as one regular expression over the text, before its fast path.
    const reference = (text: string) =>
      !text.includes("\\u0000") && !/\\u[dD][89a-fA-F]/.test(text) && !/[:,[]\s*-?(\d{1000}|[\d.]+[eE][+-]?\d{5})/.test(text);
    // mulberry32: a seeded generator whose every residue occurs (a plain LCG in doubles loses its low bits).
    let seed = 7;
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const numbers = [() => "9".repeat(990 + random(20)), () => `-${"1".repeat(995 + random(10))}.5`, () => `${random(2) ? "-" : ""}1.5e${random(2) ? "-" : "+"}${10000 + random(5)}`,
      () => `2E${1000 + random(9000)}`, () => "12345", () => "-0.5"];
    // Look-alikes inside strings too: the fast path must answer as the pattern does, even where the
    // pattern is fooled by one (", 1.5e12345").
    const strings = ["\\uD83D\\uDE00", "\\u00e9", "x".repeat(random(2000)), "7".repeat(1000 + random(5)), "e12345", "\\\\ud800",
      "3e12345", "a3e-123456", "x, 1.5e12345", "[ -.5E+12345", ":\\t7e12345", "- 1e12345", "5ee12345", "e+1234", "x,e12345", "[ -E+12345"];
    let withheld = 0;
    for (let k = 0; k < 600; k++) {
      const pad = "p".repeat(random(1500));
      const text = `{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "pad": "${pad}", "s": "${strings[random(strings.length)]}", "n": ${numbers[random(numbers.length)]!()}}]}`;
      const page = parse(text);
      expect(page.items).toHaveLength(1);
      expect(page.itemBytes !== null, text.slice(0, 120)).toBe(reference(text));
      if (page.itemBytes === null) withheld++;
    }
    // Both outcomes occur, so the comparison above means something.
    expect(withheld).toBeGreaterThan(100);
    expect(withheld).toBeLessThan(500);
  });

  it("stays on for look-alikes inside strings and for ordinary numbers", () => {
    const text = JSON.stringify({ requests: [item("8e12345", { usd: 1.5e-7, big: 1e21, path: "/v1/listen?x=e99999" })] });
    expect(bytesOf(parse(text))).toEqual([JSON.stringify(JSON.parse(text).requests[0])]);
  });

  it("leaves out a byte order mark, and is withheld when the bytes are not valid UTF-8", () => {
    const text = JSON.stringify({ requests: [item("a", { tags: ["日本"] })] });
    expect(bytesOf(parseBytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])))).toEqual([JSON.stringify(JSON.parse(text).requests[0])]);
    // A stray continuation byte inside a string: JSON.parse reads U+FFFD there, Postgres would refuse the bytes.
    const broken = Buffer.concat([Buffer.from('{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "s": "'), Buffer.from([0x80]), Buffer.from('"}]}')]);
    const page = parseBytes(broken);
    expect(page.items.map((i) => (i as { s?: string }).s)).toEqual(["\ufffd"]);
    expect(page.itemBytes).toBeNull();
  });

  it("is absent without the body, or without valid items", () => {
    expect(parseRequestsPage({ requests: [item("a")] }, { page: 0, limit: 10 }).itemBytes).toBeNull();
    expect(parse(JSON.stringify({ requests: [{ request_id: 1 }] })).itemBytes).toBeNull();
  });
});
