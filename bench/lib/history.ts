/**
 * Every full benchmark run kept in git, one line each: the table of runs in bench/README.md, so
 * that the goals can be judged across machines and hours rather than from one run.
 */
import { cut, summarizeResults } from "./report.js";

type Median = Record<string, number | undefined>;
type Suite = { median?: Median };

export interface RunLine {
  /** When the run started (the result's `date`), to the minute, UTC. */
  started: string;
  /** The results file, without its directory and `.json`. */
  file: string;
  /** The commit that added this version of the file: `git show <addedIn>:bench/results/<file>.json`. */
  addedIn: string;
  /** The commit measured, as the result records it (`+changes` when the tree differed). */
  measured: string;
  copyRowsPerSecond: number;
  backfillRowsPerSecond: number;
  ratio300k: number;
  ratio1M: number;
  /** Backfill over COPY into the archive's own table; NaN before that reference was measured. */
  ownTable300k: number;
  ownTable1M: number;
  c8OverC1: number;
  /** Goals met, of those judged (references are not goals), by the current report's rules. */
  met: number;
  judged: number;
}

/** The line of one result, or null when the run lacks a section (a partial run, not comparable). */
export function runLine(result: Record<string, unknown>, file: string, addedIn: string): RunLine | null {
  const backfill = (result.backfill as Suite | undefined)?.median;
  const big = (result.big as Suite | undefined)?.median;
  const latency = (result.latency as { medianRowsPerSecond?: Record<string, number> } | undefined)?.medianRowsPerSecond;
  if (!backfill || !big || !latency?.["1"] || !latency["8"]) return null;
  const goals = summarizeResults(result).filter((g) => g.met !== null);
  return {
    started: String(result.date).slice(0, 16).replace("T", " "),
    file,
    addedIn,
    measured: String(result.commit),
    copyRowsPerSecond: backfill.copyRowsPerSecond!,
    backfillRowsPerSecond: backfill.backfillRowsPerSecond!,
    ratio300k: backfill.ratio!,
    ratio1M: big.ratio!,
    ownTable300k: backfill.ratioToSchemaCopy ?? NaN,
    ownTable1M: big.ratioToSchemaCopy ?? NaN,
    c8OverC1: latency["8"] / latency["1"],
    met: goals.filter((g) => g.met).length,
    judged: goals.length,
  };
}

const ratio = (x: number) => (Number.isFinite(x) ? cut(x, 3) : "-");
/** A goal's figure in bold when it misses, so the misses stand out in a column. */
const mark = (text: string, missed: boolean) => (missed ? `**${text}**` : text);

/** The lines as a Markdown table, in the order given, then one line of totals. */
export function markdownTable(lines: RunLine[]): string {
  const head = [
    "| run (UTC) | results | COPY rows/s | backfill rows/s | ratio 300k | ratio 1M | own table 300k / 1M | c8/c1 | goals met | in git |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  const rows = lines.map(
    (l) =>
      `| ${l.started} | ${l.file} | ${Math.round(l.copyRowsPerSecond)} | ${Math.round(l.backfillRowsPerSecond)} | ` +
      `${mark(ratio(l.ratio300k), l.ratio300k < 0.5)} | ${mark(ratio(l.ratio1M), l.ratio1M < 0.5)} | ` +
      `${ratio(l.ownTable300k)} / ${ratio(l.ownTable1M)} | ${mark(cut(l.c8OverC1, 2), l.c8OverC1 < 6)} | ` +
      `${l.met}/${l.judged} | ${l.addedIn} |`,
  );
  const count = (p: (l: RunLine) => boolean) => lines.filter(p).length;
  const totals =
    `${lines.length} runs: ratio 300k >= 0.5 in ${count((l) => l.ratio300k >= 0.5)}, ratio 1M >= 0.5 in ${count((l) => l.ratio1M >= 0.5)}, ` +
    `c8/c1 >= 6 in ${count((l) => l.c8OverC1 >= 6)}, every goal in ${count((l) => l.met === l.judged)}.`;
  return [...head, ...rows, "", totals].join("\n");
}
