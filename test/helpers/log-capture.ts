import { pino, type Logger } from "pino";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose JSON lines land in an array, for assertions on what was logged. */
export function captureLogs(level = "info"): { logger: Logger; lines: LogLine[]; messages(minLevel?: number): string[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines, messages: (minLevel = 0) => lines.filter((l) => l.level >= minLevel).map((l) => l.msg) };
}

export const LEVEL = { info: 30, warn: 40, error: 50 } as const;
