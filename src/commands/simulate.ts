import { systemClock } from "../clock.js";
import { ConfigError } from "../errors.js";
import { serveSimulator, type Simulator } from "../simulator/index.js";

/**
 * `simulate`: serves the fake Deepgram API and prints how to point the archiver at it. Returns the
 * running simulator; the caller stops it (the CLI does on SIGTERM/SIGINT).
 */
export async function simulateCommand(opts: Record<string, string>, out: NodeJS.WritableStream): Promise<Simulator> {
  const problems: string[] = [];
  const int = (name: string, min: number, max: number) => {
    const n = Number(opts[name]);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`--${name} must be a whole number from ${min} to ${max}; got ${opts[name]}.`);
    return n;
  };
  const port = int("port", 0, 65535);
  const seed = int("seed", 0, 2 ** 31);
  const projects = int("projects", 1, 50);
  const days = int("days", 1, 400);
  const perDay = int("perDay", 0, 500_000);
  const faultRate = Number(opts.faults);
  if (!(faultRate >= 0 && faultRate <= 1)) problems.push(`--faults must be a number from 0 to 1; got ${opts.faults}.`);
  if (problems.length) throw new ConfigError(problems);
  const sim = await serveSimulator({ clock: systemClock, apiKey: opts.key!, seed, projects, days, perDay, faultRate, port, host: opts.host });
  out.write(
    `Simulated Deepgram API listening on ${sim.url} (${projects} projects, ${days} days, ~${perDay} requests a day, faults ${faultRate}).\n` +
      `Point the archiver at it:\n  DEEPGRAM_BASE_URL=${sim.url} DEEPGRAM_API_KEY=${opts.key} deepgram-archiver sync\n`,
  );
  return sim;
}
