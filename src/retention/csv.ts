/**
 * One RFC 4180 record, CRLF-terminated. A field is quoted when it holds a comma, a quote, CR or LF
 * (quotes doubled inside), and an empty string is written as "" so that it stays distinct from
 * NULL, which is written as nothing at all.
 */
export function csvRecord(fields: ReadonlyArray<string | null>): string {
  return fields.map(csvField).join(",") + "\r\n";
}

export function csvField(value: string | null): string {
  if (value === null) return "";
  if (value === "" || /[",\r\n]/.test(value)) return `"${value.replace(/"/g, '""')}"`;
  return value;
}
