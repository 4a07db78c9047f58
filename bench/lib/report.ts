/** Medians and the goals, checked against one benchmark result. */

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

type Rate = { rowsPerSecond: number };
type Suite = { median: Record<string, number>; runs: { sync: Rate; copy: Rate }[]; kept?: Record<string, unknown> | null };

/** `places` decimals, cut rather than rounded, so that a ratio under its goal never prints as the goal. */
export function cut(x: number, places: number): string {
  const scale = 10 ** places;
  return (Math.floor(x * scale + 1e-9) / scale).toFixed(places);
}

/**
 * The goal's ratio, said as what it is: the median of the per-run ratios, to three places cut (so
 * 0.4979 reads 0.497, never a met 0.50), with each run's ratio beside it. The median rates are shown
 * too, but their quotient is not the ratio judged (the fastest sync and the fastest COPY can be in
 * different runs).
 */
function copyRatio(s: Suite): string {
  const m = s.median;
  const runs = s.runs.map((r) => cut(r.sync.rowsPerSecond / r.copy.rowsPerSecond, 3));
  return (
    `median of per-run ratios ${cut(m.ratio!, 3)}x (runs ${runs.join(", ")}); ` +
    `median rates ${Math.round(m.backfillRowsPerSecond!)} rows/s vs COPY ${Math.round(m.copyRowsPerSecond!)} rows/s`
  );
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean | null;
}

/** Not a goal: the backfill beside COPY of its own rows into the archive's table (bench/README.md). */
function schemaCopyReference(m: Record<string, number>): [string, string, null] {
  return [
    "reference, not a goal: backfill vs COPY into the archive's own table",
    `${Math.round(m.backfillRowsPerSecond!)} vs ${Math.round(m.schemaCopyRowsPerSecond!)} rows/s = ${m.ratioToSchemaCopy!.toFixed(2)}x; that COPY is ${(m.schemaCopyRowsPerSecond! / m.copyRowsPerSecond!).toFixed(2)}x the issue's`,
    null,
  ];
}

export function summarizeResults(result: Record<string, unknown>): Goal[] {
  const backfill = result.backfill as Suite | undefined;
  const big = result.big as Suite | undefined;
  const latency = result.latency as { medianRowsPerSecond: Record<string, number>; latencyMs: number } | undefined;
  const goals: Goal[] = [];
  const add = (goal: string, measured: string, met: boolean | null) => goals.push({ goal, measured, met });
  if (backfill) {
    const m = backfill.median;
    add("backfill >= 0.5x COPY (aim 0.7x)", copyRatio(backfill), m.ratio! >= 0.5);
    if (m.schemaCopyRowsPerSecond !== undefined) add(...schemaCopyReference(m));
    add("peak RSS < 400 MB", `${m.peakRssMb!.toFixed(0)} MB at ${(result.settings as { records: number }).records} records`, m.peakRssMb! < 400);
    add("nothing-new pass < 3 s (+ latency)", `${m.nothingNewPassSeconds!.toFixed(2)} s pass, ${m.nothingNewProcessSeconds!.toFixed(2)} s process, ${m.nothingNewPages} pages`, m.nothingNewPassSeconds! < 3);
  }
  if (big) {
    const m = big.median;
    add("backfill ratio at 1M records", copyRatio(big), m.ratio! >= 0.5);
    if (m.schemaCopyRowsPerSecond !== undefined) add(...schemaCopyReference(m));
    const small = backfill?.median.peakRssMb;
    add(
      "peak RSS flat in N",
      `${m.peakRssMb!.toFixed(0)} MB at 1M` + (small ? ` vs ${small.toFixed(0)} MB (x${(m.peakRssMb! / small).toFixed(2)})` : ""),
      small ? m.peakRssMb! < 400 && m.peakRssMb! / small < 1.2 : m.peakRssMb! < 400,
    );
    const s = big.kept?.summarizer as { median?: { rebuildSeconds: number; dirtyDaySeconds: number } } | string | undefined;
    if (s && typeof s === "object" && s.median) {
      add("summarizer rebuild of 1M rows < 5 s", `${s.median.rebuildSeconds.toFixed(2)} s`, s.median.rebuildSeconds < 5);
      add("one dirty day < 200 ms", `${(s.median.dirtyDaySeconds * 1000).toFixed(0)} ms`, s.median.dirtyDaySeconds < 0.2);
    } else add("summarizer", String(s ?? "not measured"), null);
  }
  if (latency) {
    const r = latency.medianRowsPerSecond;
    const c1 = r["1"];
    const c8 = r["8"];
    if (c1 && c8) add(`concurrency 8 >= 6x concurrency 1 at ${latency.latencyMs} ms/page`, `${Math.round(c8)} vs ${Math.round(c1)} rows/s = ${cut(c8 / c1, 2)}x`, c8 / c1 >= 6);
  }
  return goals;
}
