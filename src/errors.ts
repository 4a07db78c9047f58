/**
 * Errors the CLI knows how to report. Each says what went wrong and what to do next;
 * the exit code follows from the class (see src/cli.ts).
 */

/** Bad usage or configuration: exit 2. `problems` lists every one found, not just the first. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? `Configuration problem: ${problems[0]}`
        : `Configuration problems:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
}

/** The database could not be reached or refused us: exit 1, naming the database (never its password). */
export class DatabaseUnavailableError extends Error {
  override readonly name = "DatabaseUnavailableError";
  constructor(readonly target: string, options?: { cause?: unknown }) {
    const why = describeCause(options?.cause);
    super(`Cannot reach the database ${target}${why ? `: ${why}` : ""}. Check DATABASE_URL and that the server is running.`, options);
  }
}

export function describeCause(cause: unknown): string {
  if (cause instanceof AggregateError && cause.errors.length > 0) return describeCause(cause.errors[0]);
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message;
  }
  return cause === undefined ? "" : String(cause);
}
