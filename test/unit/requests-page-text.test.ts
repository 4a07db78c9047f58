import { describe, expect, it } from "vitest";
import { decodeText, readFromBytes, withoutBom } from "../../src/deepgram/http.js";
import { parseRequestsPage, parseRequestsPageBytes } from "../../src/deepgram/schemas.js";

const REQUESTED = { page: 0, limit: 10 };
/**
 * A page as the client reads a successful body (http.ts, attempt): from its bytes when they are
 * valid UTF-8 and read as a page, else from the text.
 */
const parseBytes = (raw: Buffer) => {
  const bytes = withoutBom(raw);
  return readFromBytes(bytes, (utf8) => parseRequestsPageBytes(utf8, REQUESTED)) ?? parseRequestsPage(JSON.parse(decodeText(bytes)), REQUESTED);
};
const parse = (text: string) => parseBytes(Buffer.from(text, "utf8"));
/** Each item's bytes as text (null where withheld), or null when the page was read from its text. */
const bytesOf = (page: { itemBytes?: Array<Buffer | null> | null }) => (page.itemBytes ? page.itemBytes.map((b) => b && b.toString("utf8")) : page.itemBytes);
/** Whether every item's bytes were withheld. */
const withheldAll = (page: { itemBytes?: Array<Buffer | null> | null }) => !page.itemBytes || page.itemBytes.every((b) => b === null);
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
      expect(bytesOf(parse(JSON.stringify({ requests: [item("a", hostile)] }))), JSON.stringify(hostile)).toEqual([null]);
    }
    expect(bytesOf(parse('{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "n": 1e99999}]}'))).toEqual([null]);
    expect(bytesOf(parse(`{"requests": [{"request_id": "a", "created": "2026-08-20T14:05:09Z", "n": ${"9".repeat(1200)}}]}`))).toEqual([null]);
    // Item by item: the others keep their bytes.
    const mixed = JSON.stringify({ requests: [item("a"), item("b", { s: "nul \u0000" }), item("c")] });
    expect(bytesOf(parse(mixed))).toEqual([JSON.stringify(item("a")), null, JSON.stringify(item("c"))]);
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
      expect(!withheldAll(page), text.slice(0, 120)).toBe(reference(text));
      if (withheldAll(page)) withheld++;
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

  it("is absent when the page is read from its text, and holds nothing for items that are not valid", () => {
    expect(parseRequestsPage({ requests: [item("a")] }, REQUESTED).itemBytes).toBeNull();
    expect(bytesOf(parse(JSON.stringify({ requests: [{ request_id: 1 }] })))).toEqual([]);
  });
});

describe("a /requests page read from its bytes", () => {
  const fromText = (text: string) => parseRequestsPage(JSON.parse(text), REQUESTED);
  const fromBytes = (text: string) => parseRequestsPageBytes(Buffer.from(text, "utf8"), REQUESTED);
  const withoutBytes = (page: ReturnType<typeof fromText> | undefined) => page && { ...page, itemBytes: undefined };

  it("is the page JSON.parse of the text gives", () => {
    const texts = [
      JSON.stringify({ page: 2, limit: 3, requests: [item("a", { tags: ["日本", "q\"uote"] }), { created: "x" }, 7, item("b")] }),
      `{"requests": [1], "limit": "5", "requests": [${JSON.stringify(item("c"))}], "other": {"requests": []}}`,
      `{"re\\u0071uests": [${JSON.stringify(item("d"))}], "page": 1}`,
      '{"requests": []}',
      ` \n{ "page" : 0 , "requests" : [ ${JSON.stringify(item("e"))} ] } \n`,
    ];
    for (const text of texts) expect(withoutBytes(fromBytes(text)), text).toEqual(withoutBytes(fromText(text)));
  });

  it("leaves to the text what is not an object with a requests array, and reads no page from what is not JSON", () => {
    for (const text of ['[{"requests": []}]', '{"page": 0}', '{"requests": null}', '{"requests": [], "requests": {}}']) expect(fromBytes(text), text).toBeUndefined();
    // Never a page from text that is not JSON: a SyntaxError, or left to the text (which throws one).
    expect(() => fromBytes('{"requests": [{"request_id": "a",}]}')).toThrow(SyntaxError);
    expect(() => fromBytes('{"requests": [1], "page": [0 x]}')).toThrow(SyntaxError);
    for (const text of ['{"requests": [1], "page": 0 x}', '{"requests": [1], "page": }', '{"requests": [1]} x', '{"requests": [1 2]}']) {
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
      expect(() => fromBytes(text) ?? JSON.parse(text), text).toThrow(SyntaxError);
    }
  });
});
