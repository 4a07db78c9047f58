import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };

/** Paths pino blanks out wherever they appear, as a second line of defence: the key is never put in a log on purpose. */
export const REDACT_PATHS = [
  "apiKey",
  "*.apiKey",
  "config.apiKey",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "password",
  "*.password",
];

export interface LoggerOptions {
  level: string;
  /** Where lines go; stderr by default so stdout stays for command output. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: "deepgram-archiver" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything: for library callers and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
