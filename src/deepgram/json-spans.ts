/**
 * Where the elements of a top-level object's array member sit in JSON text, as byte ranges of its
 * UTF-8 encoding. Used on a /requests page body so the client can parse each item on its own and
 * the store can hand Postgres each item's own bytes, exactly as Deepgram sent them.
 *
 * The scan checks no grammar: it follows strings, brackets and commas. The caller JSON.parses each
 * element and the rest of the text (with `[]` in the member's place), so text that is not JSON is
 * still refused; and between the elements the scan accepts only white space and commas, so those
 * pieces are valid exactly when the whole is. Whatever it does not expect (a byte order mark, a
 * top level that is not an object, the member not an array) answers null, and the caller reads
 * the text whole instead.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** An array member: the array is `json.subarray(start, end)`, element i `json.subarray(elements[2i], elements[2i + 1])`. */
export interface ArraySpans {
  start: number;
  end: number;
  elements: number[];
}

/**
 * Where `json`'s top-level member `key` (the last one when the key repeats, as JSON.parse reads it)
 * and each of its elements are. Null when `json` is not an object or that member is missing or not
 * an array.
 */
export function arrayMemberSpans(json: Buffer, key: string): ArraySpans | null {
  let i = skipSpace(json, 0);
  if (json[i] !== OPEN_OBJECT) return null;
  i = skipSpace(json, i + 1);
  let found: ArraySpans | null = null;
  if (json[i] === CLOSE_OBJECT) return null;
  for (;;) {
    if (json[i] !== QUOTE) return null;
    const keyEnd = stringEnd(json, i);
    if (keyEnd < 0) return null;
    const isKey = keyIs(json, i, keyEnd, key);
    i = skipSpace(json, keyEnd);
    if (json[i] !== COLON) return null;
    i = skipSpace(json, i + 1);
    if (isKey) {
      if (json[i] !== OPEN_ARRAY) {
        found = null;
        i = valueEnd(json, i);
      } else {
        const elements = elementSpans(json, i);
        if (elements === null) return null;
        found = { start: i, end: elements.end, elements: elements.spans };
        i = elements.end;
      }
    } else i = valueEnd(json, i);
    if (i < 0) return null;
    i = skipSpace(json, i);
    if (json[i] === COMMA) i = skipSpace(json, i + 1);
    else if (json[i] === CLOSE_OBJECT) return found;
    else return null;
  }
}

/** The array at `start` (its "["): each element's span, and the index after its "]". */
function elementSpans(json: Buffer, start: number): { spans: number[]; end: number } | null {
  const spans: number[] = [];
  let i = skipSpace(json, start + 1);
  if (json[i] === CLOSE_ARRAY) return { spans, end: i + 1 };
  for (;;) {
    const end = valueEnd(json, i);
    if (end < 0) return null;
    spans.push(i, end);
    i = skipSpace(json, end);
    if (json[i] === COMMA) i = skipSpace(json, i + 1);
    else if (json[i] === CLOSE_ARRAY) return { spans, end: i + 1 };
    else return null;
  }
}

/** Whether the string token [start, end) (quotes included) reads as `key`. */
function keyIs(json: Buffer, start: number, end: number, key: string): boolean {
  const inner = json.subarray(start + 1, end - 1);
  if (!inner.includes(BACKSLASH)) return inner.length === key.length && inner.toString("latin1") === key;
  // An escaped key ("re\u0071uests"): read it as JSON.parse does.
  return JSON.parse(json.toString("utf8", start, end)) === key;
}

/** The index after the value starting at `start`; -1 if the text ends first. */
function valueEnd(json: Buffer, start: number): number {
  const first = json[start];
  if (first === QUOTE) return stringEnd(json, start);
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
    let depth = 0;
    for (let i = start; i < json.length; ) {
      const c = json[i]!;
      if (c === QUOTE) {
        i = stringEnd(json, i);
        if (i < 0) return -1;
        continue;
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
      else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = start;
  while (i < json.length) {
    const c = json[i]!;
    if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || isSpace(c)) break;
    i++;
  }
  return i === start ? -1 : i;
}

/** The index after the string token whose opening quote is at `start`; -1 if it is not closed. */
function stringEnd(json: Buffer, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = json.indexOf(QUOTE, from);
    if (quote < 0) return -1;
    // The quote is escaped when an odd number of backslashes precede it.
    let backslashes = 0;
    while (json[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

function skipSpace(json: Buffer, start: number): number {
  let i = start;
  while (i < json.length && isSpace(json[i]!)) i++;
  return i;
}

/** JSON's insignificant whitespace: space, tab, line feed, carriage return. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
