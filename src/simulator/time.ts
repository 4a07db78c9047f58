/**
 * Time for the simulator is kept as integer microseconds since the epoch (a float64 holds them
 * exactly until the year 2255), because Deepgram's `created` carries microseconds and window edges
 * must compare exactly.
 */

export const SECOND_US = 1_000_000;
export const HOUR_US = 3600 * SECOND_US;
export const DAY_US = 24 * HOUR_US;

export function msToUs(ms: number): number {
  return Math.floor(ms) * 1000;
}

const PAD2: string[] = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"));
// Consecutive calls are mostly on the same day (pages are in time order), so the date part is cached.
let cachedDay = NaN;
let cachedPrefix = "";

/** `2026-08-20T14:05:09.118204Z`: Deepgram's `created` format. Hot path: one call per timestamp served. */
export function formatUs(us: number): string {
  const day = Math.floor(us / DAY_US);
  if (day !== cachedDay) {
    cachedPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let rest = us - day * DAY_US;
  const h = Math.floor(rest / HOUR_US);
  rest -= h * HOUR_US;
  const m = Math.floor(rest / 60_000_000);
  rest -= m * 60_000_000;
  const s = Math.floor(rest / SECOND_US);
  const micros = rest - s * SECOND_US;
  return `${cachedPrefix}${PAD2[h]}:${PAD2[m]}:${PAD2[s]}.${String(SECOND_US + micros).slice(1)}Z`;
}

/** `YYYY-MM-DD` of the UTC day containing `us`. */
export function dayOfUs(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString().slice(0, 10);
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/;

function validDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** Start of the UTC day `YYYY-MM-DD` in µs, or null when it is not a real date in that form. */
export function parseDay(text: string): number | null {
  const m = DATE_RE.exec(text);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!validDate(y, mo, d)) return null;
  return msToUs(Date.UTC(y, mo - 1, d));
}

/**
 * A `/requests` bound as an inclusive µs instant, or null when unparsable.
 * - `YYYY-MM-DD`: a start means 00:00:00 of that UTC day; an end means its last microsecond, so a
 *   date-only end includes the whole day (as the docs' example shows).
 * - `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`: that exact instant; no zone means UTC. Sub-µs
 *   digits round inward (start up, end down), which is exact for µs-precision records. With
 *   `endCoversSecond`, an end without a fraction means the last microsecond of its second.
 */
export function parseBound(text: string, edge: "start" | "end", endCoversSecond = false): number | null {
  const day = parseDay(text);
  if (day !== null) return edge === "start" ? day : day + DAY_US - 1;
  const m = DATETIME_RE.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i])) as [number, number, number, number, number, number];
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return null;
  let offsetMin = 0;
  const zone = m[8];
  if (zone && zone !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offsetMin = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const frac = (m[7] ?? "").padEnd(9, "0");
  const micros = Number(frac.slice(0, 6));
  const subMicro = Number(frac.slice(6)) > 0;
  const base = msToUs(Date.UTC(y, mo - 1, d, h, mi, s) - offsetMin * 60_000) + micros;
  if (endCoversSecond && edge === "end" && m[7] === undefined) return base + 999_999;
  return subMicro && edge === "start" ? base + 1 : base;
}
