import { DateTime } from "luxon";

/**
 * `--since` / `--until` everywhere: a calendar day (inclusive, in `zone`) or a full ISO timestamp
 * with a zone. Returns a half-open [since, until) range; null bounds stay open.
 */
export function parseRange(since: string | undefined, until: string | undefined, zone: string): { since: Date | null; until: Date | null; problems: string[] } {
  const problems: string[] = [];
  const s = since === undefined ? null : parseBound(since, zone, "since", problems);
  const u = until === undefined ? null : parseBound(until, zone, "until", problems);
  if (s && u && s >= u) problems.push(`--since (${since}) must come before --until (${until}).`);
  return { since: s, until: u, problems };
}

function parseBound(text: string, zone: string, which: "since" | "until", problems: string[]): Date | null {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    // The CLI sets Settings.throwOnInvalid, so an impossible date (2026-02-30) throws rather than returning an invalid DateTime.
    const day = tryParse(() => DateTime.fromISO(text, { zone }));
    if (!day?.isValid) {
      problems.push(`--${which} ${text} is not a calendar date.`);
      return null;
    }
    // A day given as --until includes that whole day.
    return (which === "until" ? day.plus({ days: 1 }) : day).toJSDate();
  }
  const t = tryParse(() => DateTime.fromISO(text, { setZone: true }));
  if (!t?.isValid || !/(Z|[+-]\d{2}:?\d{2})$/.test(text)) {
    problems.push(`--${which} ${JSON.stringify(text)} must be a date (YYYY-MM-DD) or an ISO timestamp with a zone (2026-03-14T10:00:00Z).`);
    return null;
  }
  return t.toJSDate();
}

function tryParse(parse: () => DateTime): DateTime | null {
  try {
    return parse();
  } catch {
    return null;
  }
}
