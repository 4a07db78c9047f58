/**
 * Tolerant validation of Deepgram management responses. The archiver stores what Deepgram sent
 * verbatim, so schemas only *check* the fields we rely on; the objects handed back are the ones
 * received (never zod's copies), with every unknown field kept. Pure functions: no I/O, easy to
 * test with literal objects.
 */
import { DateTime } from "luxon";
import { z } from "zod";
import { arrayMemberSpans } from "./json-spans.js";
import type { ApiKeyInfo, ProjectInfo, RejectedItem, RequestItem, RequestsPage, UsageDayResult, UsageResponse } from "./types.js";

/** Valid JSON of the wrong structure. The transport turns it into a DeepgramResponseError with the call site. */
export class BodyShapeError extends Error {
  override readonly name = "BodyShapeError";
}

/** Deepgram's numbers sometimes arrive as strings (the docs show string-typed config values); accept both. */
const numeric = z.union([
  z.number(),
  z.string().trim().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, "is not a number").transform(Number),
]);

const missingOr = (what: string) => ({
  error: (iss: { input: unknown }) => (iss.input === undefined ? "is missing" : `is not ${what}`),
});

/** `created` must pin an instant: a local time without zone would be read differently by each consumer. */
export function isZonedIsoDateTime(s: string): boolean {
  if (isPlainZonedIsoDateTime(s)) return true;
  if (!/T\d{2}:\d{2}/.test(s) || !/(Z|[+-]\d{2}(:?\d{2})?)$/i.test(s)) return false;
  try {
    // try/catch because Settings.throwOnInvalid may be on globally (STACK-NOTES recommends it).
    return DateTime.fromISO(s, { setZone: true }).isValid;
  } catch {
    return false;
  }
}

/**
 * The form every item carries (`2026-08-20T14:05:09.118204Z`, or with an offset), checked by hand:
 * luxon costs about 20 µs a call, which was most of a 1000-item page's validation. Every string this
 * accepts is one luxon accepts too, so it only decides the common case; anything else (other ISO
 * forms, out-of-range fields) is left to luxon above, and the answer stays luxon's.
 */
const PLAIN_ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,30})?)?(?:Z|[+-](\d{2})(?::?(\d{2}))?)$/;

function isPlainZonedIsoDateTime(s: string): boolean {
  const m = PLAIN_ISO.exec(s);
  if (m === null) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 59)) return false;
  return m[7] === undefined || (Number(m[7]) <= 23 && (m[8] === undefined || Number(m[8]) <= 59));
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const ListPageSchema = z.looseObject({
  page: numeric.nullish(),
  limit: numeric.nullish(),
  requests: z.array(z.unknown(), missingOr("an array")).nullish(),
});

function firstIssue(error: z.ZodError, subject: string): string {
  const issue = error.issues[0];
  if (!issue) return `${subject} is invalid`;
  const where = issue.path.length > 0 ? issue.path.join(".") : subject;
  return `${where} ${issue.message}`;
}

function parseOrShape<T>(schema: z.ZodType<T>, body: unknown, subject: string): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new BodyShapeError(firstIssue(r.error, subject));
  return r.data;
}

/**
 * One list item: the received object itself when valid, else the reason it cannot be archived.
 * Checked by hand rather than with a zod schema (this runs for every archived record, and the
 * schema cost as much as the rest of a page's handling), with the messages the schema gave.
 */
export function validateRequestItem(raw: unknown): { ok: true; item: RequestItem } | { ok: false; reason: string } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, reason: "item is not an object" };
  const { request_id: id, created } = raw as Record<string, unknown>;
  if (typeof id !== "string") return { ok: false, reason: id === undefined ? "request_id is missing" : "request_id is not a string" };
  if (id.length === 0) return { ok: false, reason: "request_id is empty" };
  if (typeof created !== "string") return { ok: false, reason: created === undefined ? "created is missing" : "created is not a string" };
  if (!isZonedIsoDateTime(created)) return { ok: false, reason: "created is not an ISO-8601 datetime with a zone" };
  return { ok: true, item: raw as RequestItem };
}

/** A /requests page from its parsed JSON. No item carries its bytes (see parseRequestsPageBytes). */
export function parseRequestsPage(body: unknown, requested: { page: number; limit: number }): RequestsPage {
  return pageOf(body, requested, null);
}

/**
 * A /requests page read from the body's bytes (valid UTF-8, no byte order mark), giving what
 * parseRequestsPage(JSON.parse(text)) gives, plus each valid item's own bytes as sent
 * (`itemBytes`, views into the body) where Postgres reads them as jsonb to the values JSON.parse
 * read, so the store hands Postgres those bytes instead of serializing the item again.
 *
 * Each item is decoded and parsed on its own (the page's other members as one small text): the
 * page as one string is a large allocation the size of the page, which cost more to decode than
 * JSON.parse did to read it (bench/README.md, item 15). Throws SyntaxError where the text is not
 * JSON, and answers undefined where the body is not an object with a `requests` array; the
 * caller then reads the text whole, as for any other body.
 */
export function parseRequestsPageBytes(utf8: Buffer, requested: { page: number; limit: number }): RequestsPage | undefined {
  const member = arrayMemberSpans(utf8, "requests");
  if (member === null) return undefined;
  const spans = member.elements;
  const texts: string[] = new Array(spans.length / 2);
  const values: unknown[] = new Array(spans.length / 2);
  for (let i = 0; i < texts.length; i++) {
    texts[i] = utf8.toString("utf8", spans[2 * i], spans[2 * i + 1]);
    values[i] = JSON.parse(texts[i]!);
  }
  // The other members, with an empty array where `requests` was (the last `requests`, which is
  // the one JSON.parse keeps), then the items put in its place.
  const top = JSON.parse(`${utf8.toString("utf8", 0, member.start)}[]${utf8.toString("utf8", member.end)}`) as Record<string, unknown>;
  top.requests = values;
  return pageOf(top, requested, (i) => (postgresReadsAsParsed(texts[i]!) ? utf8.subarray(spans[2 * i], spans[2 * i + 1]) : null));
}

function pageOf(body: unknown, requested: { page: number; limit: number }, bytesOf: ((i: number) => Buffer | null) | null): RequestsPage {
  const top = parseOrShape(ListPageSchema, body, "body");
  const raw = top.requests ?? [];
  const items: RequestItem[] = [];
  const itemBytes: Array<Buffer | null> = [];
  const rejected: RejectedItem[] = [];
  for (let i = 0; i < raw.length; i++) {
    const entry = raw[i];
    const v = validateRequestItem(entry);
    if (v.ok) {
      items.push(v.item);
      if (bytesOf) itemBytes.push(bytesOf(i));
    } else rejected.push({ raw: entry, reason: v.reason });
  }
  return { page: top.page ?? requested.page, limit: top.limit ?? requested.limit, items, rejected, rawCount: raw.length, itemBytes: bytesOf ? itemBytes : null };
}

/**
 * Whether Postgres reads this JSON text as jsonb to the same values JSON.parse read (duplicate keys
 * resolve the same way, last one wins). Not when it holds a \u0000 escape (Postgres cannot store
 * NUL), an escaped UTF-16 surrogate (Postgres refuses a lone one), or a number beyond what numeric
 * holds; such an item is stored from its parsed object, serialized again.
 *
 * The checks look only where a cheap necessary test points: scanning every page with regular
 * expressions cost about a third as much CPU as JSON.parse of the page.
 */
function postgresReadsAsParsed(text: string): boolean {
  if (hasEscapePostgresRefuses(text)) return false;
  if (hasHugeExponent(text)) return false;
  return !(hasDigitRun(text, HUGE_DIGITS) && HUGE_DIGITS_NUMBER.test(text));
}

/**
 * A number token of HUGE_DIGITS digits. With hasHugeExponent, this answers as the one pattern
 * /[:,[]\s*-?(\d{1000}|[\d.]+[eE][+-]?\d{5})/ did: a number beyond what numeric holds, or a
 * look-alike inside a string (which only costs the fast path).
 */
const HUGE_DIGITS_NUMBER = /[:,[]\s*-?\d{1000}/;
const HUGE_DIGITS = 1000;

/**
 * Whether the text has a number token with a five-digit exponent, as /[:,[]\s*-?[\d.]+[eE][+-]?\d{5}/
 * would find, but by looking back from each exponent only: that pattern tried at every colon and
 * comma of a page cost 1 ms a page, and ids (hex) hold exponent look-alikes on most pages.
 */
function hasHugeExponent(text: string): boolean {
  for (const m of text.matchAll(FIVE_DIGIT_EXPONENT)) {
    let at = m.index - 1;
    while (at >= 0 && isDigitOrDot(text.charCodeAt(at))) at--;
    if (at === m.index - 1) continue;
    if (text[at] === "-") at--;
    while (at >= 0 && /\s/.test(text[at]!)) at--;
    if (at >= 0 && (text[at] === ":" || text[at] === "," || text[at] === "[")) return true;
  }
  return false;
}

const FIVE_DIGIT_EXPONENT = /[eE][+-]?\d{5}/g;
const isDigitOrDot = (c: number) => (c >= 48 && c <= 57) || c === 46;

/**
 * Whether a backslash-u is followed by 0000 or by an escaped UTF-16 surrogate, as
 * /\\u(0000|[dD][89a-fA-F])/ would find, but by indexOf, which skips from one backslash-u to the
 * next instead of trying every position.
 */
function hasEscapePostgresRefuses(text: string): boolean {
  for (let at = text.indexOf("\\u"); at !== -1; at = text.indexOf("\\u", at + 2)) {
    if (text.startsWith("0000", at + 2) || /^[dD][89a-fA-F]/.test(text.slice(at + 2, at + 4))) return true;
  }
  return false;
}

/** Whether `text` has `length` ASCII digits in a row: such a run covers a multiple of `length`, so only those are probed. */
function hasDigitRun(text: string, length: number): boolean {
  const isDigit = (i: number) => {
    const c = text.charCodeAt(i);
    return c >= 48 && c <= 57;
  };
  for (let probe = length - 1; probe < text.length; probe += length) {
    if (!isDigit(probe)) continue;
    let start = probe;
    while (start > 0 && isDigit(start - 1)) start--;
    let end = probe + 1;
    while (end < text.length && isDigit(end)) end++;
    if (end - start >= length) return true;
  }
  return false;
}

/** The spec wraps the single item as `{request: {...}}`; every observed payload is flat. Accept both. */
export function parseRequestItem(body: unknown): RequestItem {
  const wrapped = typeof body === "object" && body !== null && !("request_id" in body) && "request" in body;
  const v = validateRequestItem(wrapped ? (body as { request: unknown }).request : body);
  if (!v.ok) throw new BodyShapeError(v.reason);
  return v.item;
}

const ProjectsSchema = z.looseObject({ projects: z.array(z.unknown(), missingOr("an array")).nullish() });
const ProjectSchema = z.looseObject({ project_id: z.string(missingOr("a string")).min(1, "is empty") });

export function parseProjects(body: unknown): { projects: ProjectInfo[]; skipped: RejectedItem[] } {
  const top = parseOrShape(ProjectsSchema, body, "body");
  const projects: ProjectInfo[] = [];
  const skipped: RejectedItem[] = [];
  for (const entry of top.projects ?? []) {
    const r = ProjectSchema.safeParse(entry);
    if (!r.success) {
      skipped.push({ raw: entry, reason: firstIssue(r.error, "project") });
      continue;
    }
    const raw = entry as Record<string, unknown>;
    projects.push({ project_id: r.data.project_id, name: typeof raw.name === "string" ? raw.name : null, raw });
  }
  return { projects, skipped };
}

const count = numeric.nullish();
const UsageDaySchema = z.looseObject({
  start: z.string(missingOr("a string")),
  end: z.string().nullish(),
  requests: count,
  hours: count,
  total_hours: count,
  // /usage nests tokens and tts; /usage/breakdown flattens them. Read either.
  tokens: z.looseObject({ in: count, out: count }).nullish(),
  tts: z.looseObject({ characters: count, requests: count }).nullish(),
  tokens_in: count,
  tokens_out: count,
  tts_characters: count,
  tts_requests: count,
});
const UsageSchema = z.looseObject({
  start: z.string().nullish(),
  end: z.string().nullish(),
  results: z.array(UsageDaySchema, missingOr("an array")).nullish(),
});

/**
 * A bad day fails the whole response rather than being dropped: reconciliation compares per day,
 * and a silently missing day would read as "Deepgram saw nothing". Missing `requests`/`hours`
 * count as 0 (an idle day), missing token/TTS counters as null (not reported).
 */
export function parseUsage(body: unknown): UsageResponse {
  const top = parseOrShape(UsageSchema, body, "body");
  const rawDays = ((body as { results?: unknown }).results ?? []) as Array<Record<string, unknown>>;
  const results: UsageDayResult[] = (top.results ?? []).map((d, i) => ({
    start: d.start,
    end: d.end ?? d.start,
    requests: d.requests ?? 0,
    hours: d.hours ?? 0,
    total_hours: d.total_hours ?? null,
    tokens_in: d.tokens?.in ?? d.tokens_in ?? null,
    tokens_out: d.tokens?.out ?? d.tokens_out ?? null,
    tts_characters: d.tts?.characters ?? d.tts_characters ?? null,
    tts_requests: d.tts?.requests ?? d.tts_requests ?? null,
    raw: rawDays[i] as Record<string, unknown>,
  }));
  const out: UsageResponse = { results, raw: body as Record<string, unknown> };
  if (top.start) out.start = top.start;
  if (top.end) out.end = top.end;
  return out;
}

const KeysSchema = z.looseObject({ api_keys: z.array(z.unknown(), missingOr("an array")).nullish() });
const KeySchema = z.looseObject({ api_key_id: z.string(missingOr("a string")).min(1, "is empty") });

const stringOrNull = (v: unknown): string | null => (typeof v === "string" ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : []);

/**
 * Keys come as `{member: {...}, api_key: {...}}` (list) or flat. Only the key's own labels are
 * copied: `member` (email, names) is personal data the archive has no reason to keep.
 */
export function parseKeys(body: unknown): { keys: ApiKeyInfo[]; skipped: RejectedItem[] } {
  const top = parseOrShape(KeysSchema, body, "body");
  const keys: ApiKeyInfo[] = [];
  const skipped: RejectedItem[] = [];
  for (const entry of top.api_keys ?? []) {
    const nested = typeof entry === "object" && entry !== null && "api_key" in entry ? (entry as { api_key: unknown }).api_key : entry;
    const r = KeySchema.safeParse(nested);
    if (!r.success) {
      // The member object is left out of what we keep for the report, for the same reason.
      skipped.push({ raw: nested, reason: firstIssue(r.error, "api_key") });
      continue;
    }
    // Labels are optional decoration: a wrong type becomes null/[] rather than losing the key.
    const k = nested as Record<string, unknown>;
    keys.push({
      api_key_id: r.data.api_key_id,
      comment: stringOrNull(k.comment),
      scopes: strings(k.scopes),
      tags: strings(k.tags),
      created: stringOrNull(k.created),
      expiration_date: stringOrNull(k.expiration_date),
    });
  }
  return { keys, skipped };
}
