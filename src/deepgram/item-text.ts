/**
 * Finds the JSON text of each element of a page's top-level `requests` array, so that an item can
 * be stored as the text Deepgram sent rather than serialized again from the parsed object (which
 * cost more than parsing the page). The text has already been parsed with JSON.parse, so it is
 * valid JSON; this only needs to track strings and nesting. Anything unusual (an escaped key at the
 * top level, a count that does not match the parsed array) gives null, and the caller serializes.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** Index just past the closing quote of the string whose opening quote is at `open`. */
function endOfString(text: string, open: number): number {
  let q = open;
  for (;;) {
    q = text.indexOf('"', q + 1);
    if (q < 0) return -1;
    let backslashes = 0;
    for (let b = q - 1; text.charCodeAt(b) === BACKSLASH; b--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
  }
}

/**
 * The texts of the elements of the top-level object's `requests` array (the last such member, as
 * JSON.parse keeps the last), or null when the text is not laid out as expected.
 */
export function requestsArrayTexts(text: string, expected: number): string[] | null {
  let i = 0;
  const n = text.length;
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  // A UTF-8 byte order mark is not JSON whitespace; the transport strips it before JSON.parse.
  if (text.charCodeAt(i) !== OPEN_OBJECT) return null;
  i++;
  let result: string[] | null = null;
  let depth = 1;
  // At depth 1 a string is a key when `expectKey` is set; the value follows the colon.
  let expectKey = true;
  let key: string | null = null;
  let collecting: string[] | null = null;
  let elementStart = -1;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = endOfString(text, i);
      if (end < 0) return null;
      if (depth === 1 && expectKey) {
        key = text.slice(i + 1, end - 1);
        // An escaped key could spell `requests` in a way this scanner would not see.
        if (key.includes("\\")) return null;
      } else if (collecting && depth === 2 && elementStart < 0) elementStart = i;
      i = end;
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth === 1 && key === "requests" && c === OPEN_ARRAY) {
        collecting = [];
        elementStart = -1;
      } else if (collecting && depth === 2 && elementStart < 0) elementStart = i;
      depth++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      if (collecting && depth === 1) {
        if (elementStart >= 0) collecting.push(trimEnd(text, elementStart, i));
        result = collecting;
        collecting = null;
      }
      if (depth === 0) break;
    } else if (c === COMMA) {
      if (depth === 1) expectKey = true;
      else if (collecting && depth === 2) {
        if (elementStart < 0) return null;
        collecting.push(trimEnd(text, elementStart, i));
        elementStart = -1;
      }
    } else if (c === COLON) {
      if (depth === 1) expectKey = false;
    } else if (!isSpace(c) && collecting && depth === 2 && elementStart < 0) {
      elementStart = i; // a number, true, false or null element
    }
    i++;
  }
  return result !== null && result.length === expected ? result : null;
}

function trimEnd(text: string, start: number, end: number): string {
  let e = end;
  while (e > start && isSpace(text.charCodeAt(e - 1))) e--;
  return text.slice(start, e);
}
