import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Clock } from "../../src/clock.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The environment a child gets: nothing from this process but PATH and HOME, plus `env`. */
export function cleanEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env };
}

/** Starts the CLI from source (tsx) in a child process. */
export function startCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
}

export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  const started = Date.now();
  const child = startCli(args, env);
  return collect(child, started, timeoutMs);
}

export function collect(child: ChildProcess, started = Date.now(), timeoutMs = 120_000): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`CLI did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * Runs the CLI's `main` in this process (no child, no tsx start-up): argv parsing, the command,
 * its output and its exit code, for tests that do not need a process boundary.
 */
export async function runCliInProcess(args: string[], env: Record<string, string>, clock?: Clock): Promise<Omit<CliResult, "signal">> {
  const { main } = await import("../../src/cli.js");
  let stdout = "";
  let stderr = "";
  const sink = (write: (s: string) => void) => ({ isTTY: false, write: (s: string | Uint8Array) => (write(String(s)), true) }) as unknown as NodeJS.WriteStream;
  const started = Date.now();
  const code = await main(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), env, clock });
  return { code, stdout, stderr, ms: Date.now() - started };
}
