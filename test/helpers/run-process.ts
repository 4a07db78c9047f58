import { spawn, type ChildProcess } from "node:child_process";
import { cleanEnv, startCli } from "./cli.js";
import type { LogLine } from "./log-capture.js";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A `deepgram-archiver run` child process whose JSON log lines are parsed as they arrive. */
export interface RunProcess {
  child: ChildProcess;
  /** Parsed log lines; lines that are not JSON are kept as { level: 0, msg: line }. */
  lines: LogLine[];
  stdout(): string;
  /** Base URL of its HTTP server, from the "http server listening" line. */
  url(timeoutMs?: number): Promise<string>;
  waitForLog(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<Exit>;
  /** Sends `signal` and resolves with the exit and the milliseconds it took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit & { ms: number }>;
}

/** `run` from source (tsx), or an installed executable (`deepgram-archiver` as on the image's PATH) when `executable` is given. */
export function startRunProcess(env: Record<string, string>, opts: { executable?: string; cwd?: string } = {}): RunProcess {
  const child = opts.executable
    ? spawn(opts.executable, ["run"], { cwd: opts.cwd, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] })
    : startCli(["run"], env);
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let out = "";
  let partial = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d: Buffer) => {
    partial += d.toString("utf8");
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const p of parts) {
      if (p.trim() === "") continue;
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ level: 0, msg: p });
      }
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<Exit>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of waiters) w();
  });

  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.find(match);
        if (hit) return finish(() => resolve(hit));
        if (done) finish(() => reject(new Error(`run exited before the expected log line. Log:\n${tail(lines)}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no matching log line within ${timeoutMs} ms. Log:\n${tail(lines)}`))), timeoutMs);
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        fn();
      };
      waiters.add(check);
      check();
    });

  return {
    child,
    lines,
    stdout: () => out,
    async url(timeoutMs = 60_000) {
      const l = await waitForLog((x) => typeof x.url === "string" && x.msg.startsWith("http server listening"), timeoutMs);
      return l.url as string;
    },
    waitForLog,
    exited,
    async stop(signal = "SIGTERM", timeoutMs = 20_000) {
      const started = Date.now();
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const exit = await exited;
      clearTimeout(timer);
      return { ...exit, ms: Date.now() - started };
    },
  };
}

function tail(lines: LogLine[]): string {
  return lines
    .slice(-15)
    .map((l) => JSON.stringify(l))
    .join("\n");
}
