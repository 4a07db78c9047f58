import { describe, expect, it } from "vitest";
import { arrayMemberSpans } from "../../src/deepgram/json-spans.js";

/** The elements of `text`'s member `key` as text, by the spans. */
const elements = (text: string, key = "requests") => {
  const bytes = Buffer.from(text, "utf8");
  const member = arrayMemberSpans(bytes, key);
  if (member === null) return null;
  // The array itself, brackets included.
  expect(JSON.parse(bytes.toString("utf8", member.start, member.end))).toEqual(JSON.parse(text)[key]);
  const spans = member.elements;
  const out: string[] = [];
  for (let i = 0; i < spans.length; i += 2) out.push(bytes.toString("utf8", spans[i], spans[i + 1]));
  return out;
};

// mulberry32: a seeded generator whose every residue occurs.
let seed = 11;
const random = (n: number) => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) % n;
};
const pick = <T>(xs: T[]): T => xs[random(xs.length)]!;
const space = () => pick(["", "", " ", "\n  ", "\t", "\r\n"]);
// Strings that hold what the scan steers by: quotes, backslashes before a closing quote, brackets, commas.
const strings = ['"a"', '""', '"\\""', '"\\\\"', '"x\\\\\\""', '"[{,}]"', '"日本 é"', '"\\u0041\\n"', '"\\\\\\\\"', '"] , }"', '":"'];
const scalars = ["0", "-1.5e-3", "12345678901234567890", "true", "false", "null", "2E+10"];
const value = (depth: number): string => {
  const kind = depth > 3 ? random(2) : random(4);
  if (kind === 0) return pick(strings);
  if (kind === 1) return pick(scalars);
  const n = random(4);
  const parts = Array.from({ length: n }, () => (kind === 2 ? value(depth + 1) : `${pick(strings)}${space()}:${space()}${value(depth + 1)}`));
  const [open, close] = kind === 2 ? ["[", "]"] : ["{", "}"];
  return `${open}${space()}${parts.join(`${space()},${space()}`)}${space()}${close}`;
};

describe("arrayMemberSpans", () => {
  it("finds each element of the member exactly as written, on generated pages", () => {
    let elementsSeen = 0;
    for (let k = 0; k < 500; k++) {
      const items = Array.from({ length: random(6) }, () => value(0));
      const decoy = random(3) === 0 ? `"requests"${space()}:${space()}[${pick(strings)}, 1],${space()}` : "";
      const nested = `"meta":${space()}{"requests": [1, 2, 3]}`;
      const text = `${space()}{${space()}"page":${space()}${pick(scalars)},${space()}${decoy}${nested},${space()}"requests"${space()}:${space()}[${space()}${items.join(`${space()},${space()}`)}${space()}]${space()},"limit":${pick(strings)}}${space()}`;
      const found = elements(text);
      expect(found, text).toEqual(items);
      expect(found!.map((e) => JSON.parse(e))).toEqual(JSON.parse(text).requests);
      elementsSeen += items.length;
    }
    expect(elementsSeen).toBeGreaterThan(1000);
  });

  it("reads the member's name as JSON.parse does: the last one, escapes decoded", () => {
    expect(elements('{"requests": [1], "requests": [2, 3]}')).toEqual(["2", "3"]);
    expect(elements('{"re\\u0071uests": [true]}')).toEqual(["true"]);
    expect(elements('{"requests\\u0000": [1]}')).toBeNull();
    expect(elements('{"requests": []}')).toEqual([]);
    expect(elements('{"requests": [ ] }')).toEqual([]);
  });

  it("answers null where the member is not an array of the top-level object", () => {
    expect(elements("[1, 2]")).toBeNull();
    expect(elements("{}")).toBeNull();
    expect(elements('{"requests": {"a": [1]}}')).toBeNull();
    expect(elements('{"requests": [1], "requests": null}')).toBeNull();
    expect(elements('{"other": {"requests": [1]}}')).toBeNull();
    expect(elements('\ufeff{"requests": [1]}')).toBeNull();    // Text JSON.parse refuses never reaches the scan; were it given, it answers null, not spans.
    for (const broken of ['{"requests": [,]}', '{"requests": [1', '{"requests": ["a]}', '{"requests": [{]}']) expect(elements(broken), broken).toBeNull();
  });
});
