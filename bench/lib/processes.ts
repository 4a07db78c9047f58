/**
 * Child processes for the benchmark: the archiver CLI under /usr/bin/time (peak RSS, CPU), psql,
 * and CPU sampling of the Postgres backends a run uses (read from /proc while they live).
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** From /usr/bin/time when available. */
  peakRssMb: number | null;
  cpuUserS: number | null;
  cpuSysS: number | null;
}

const TIME_BIN = "/usr/bin/time";
let hasTimeBin: boolean | null = null;

function timeBinAvailable(): boolean {
  if (hasTimeBin === null) {
    try {
      readFileSync(TIME_BIN);
      hasTimeBin = true;
    } catch {
      hasTimeBin = false;
    }
  }
  return hasTimeBin;
}

/** Runs a command to its end; under /usr/bin/time -f "%M %U %S" when `measure` is set. */
export async function runChild(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; measure?: boolean; cwd?: string } = {}): Promise<ChildResult> {
  const timeFile = join(tmpdir(), `bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const useTime = opts.measure === true && timeBinAvailable();
  const [file, argv] = useTime ? [TIME_BIN, ["-f", "%M %U %S", "-o", timeFile, cmd, ...args]] : [cmd, args];
  const started = performance.now();
  const child = spawn(file, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const wallMs = performance.now() - started;
  let peakRssMb: number | null = null;
  let cpuUserS: number | null = null;
  let cpuSysS: number | null = null;
  if (useTime) {
    const last = readFileSync(timeFile, "utf8").trim().split("\n").pop() ?? "";
    const [kb, user, sys] = last.split(" ").map(Number);
    if (Number.isFinite(kb)) peakRssMb = kb! / 1024;
    if (Number.isFinite(user)) cpuUserS = user!;
    if (Number.isFinite(sys)) cpuSysS = sys!;
    rmSync(timeFile, { force: true });
  }
  return { code, stdout, stderr, wallMs, peakRssMb, cpuUserS, cpuSysS };
}

const CLOCK_TICKS = 100;

function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Machine-wide busy fraction between two reads of /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3]! + (line[4] ?? 0);
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** CPU time of a database's backends, as sampled. */
export interface BackendCpu {
  /** CPU seconds of every backend seen, each as last sampled. */
  total: number;
  /** CPU seconds the backends had used by `epochMs`, interpolated between the samples around it. */
  until(epochMs: number): number;
}

/**
 * Samples CPU time of every backend connected to `database` every 200 ms; the last value seen per
 * backend is kept (a backend's final ~200 ms after the last sample are missed).
 */
export function sampleBackends(adminUrl: string, database: string): { stop(): Promise<BackendCpu> } {
  const lastSeen = new Map<number, number>();
  const series: Array<{ at: number; cpu: number }> = [];
  const client = new pg.Client({ connectionString: adminUrl });
  let running = true;
  const sum = () => [...lastSeen.values()].reduce((a, b) => a + b, 0);
  const loop = (async () => {
    await client.connect();
    while (running) {
      const r = await client.query<{ pid: number }>("select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [database]);
      for (const { pid } of r.rows) {
        const s = procCpuSeconds(pid);
        if (s !== null) lastSeen.set(pid, s);
      }
      series.push({ at: Date.now(), cpu: sum() });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await client.end();
  })();
  return {
    async stop() {
      running = false;
      await loop.catch(() => undefined);
      const total = sum();
      return { total, until: (epochMs) => interpolate(series, epochMs, total) };
    },
  };
}

function interpolate(series: Array<{ at: number; cpu: number }>, at: number, total: number): number {
  const after = series.findIndex((s) => s.at >= at);
  if (after === -1) return total;
  if (after === 0) return series[0]!.cpu;
  const a = series[after - 1]!;
  const b = series[after]!;
  return a.cpu + ((b.cpu - a.cpu) * (at - a.at)) / (b.at - a.at);
}
