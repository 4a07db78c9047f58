/**
 * Every full benchmark run kept in git, as the Markdown table in bench/README.md ("Every run of
 * the current write path"). Each version of a results file that git holds is one run (a file keeps
 * only its newest run; the commits before hold the others).
 *
 *   node --import tsx bench/history.ts [--since d1e823b]
 *
 * --since: only runs whose measured commit descends from this one (d1e823b is the write path as it
 * is now); without it, every run.
 */
import { execFileSync } from "node:child_process";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { markdownTable, runLine, type RunLine } from "./lib/history.js";

const { values: opt } = parseArgs({ options: { since: { type: "string" } } });

const git = (...args: string[]) => execFileSync("git", args, { encoding: "utf8", maxBuffer: 64 << 20 });

function descendsFrom(ancestor: string, measured: string): boolean {
  const commit = measured.replace(/\+changes$/, "");
  try {
    execFileSync("git", ["merge-base", "--is-ancestor", ancestor, commit], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const seen = new Set<string>();
const lines: RunLine[] = [];
// Oldest first, so that a run is credited to the commit that added it, not to a later one that
// only touched the same file.
for (const commit of git("log", "--reverse", "--format=%h", "--", "bench/results").split("\n").filter(Boolean)) {
  const files = git("diff-tree", "--no-commit-id", "--name-only", "--diff-filter=AM", "-r", commit, "--", "bench/results")
    .split("\n")
    .filter((f) => f.endsWith(".json"));
  for (const path of files) {
    const result = JSON.parse(git("show", `${commit}:${path}`)) as Record<string, unknown>;
    if (seen.has(String(result.date))) continue;
    seen.add(String(result.date));
    if (opt.since && !descendsFrom(opt.since, String(result.commit))) continue;
    const line = runLine(result, basename(path, ".json"), commit);
    if (line) lines.push(line);
  }
}
lines.sort((a, b) => a.started.localeCompare(b.started));
process.stdout.write(markdownTable(lines) + "\n");
