import type { SyncEvent } from "./sync/report.js";

/**
 * A one-line progress bar on a TTY (windows, rows, rate, ETA), redrawn at most 5 times a second.
 * Not used when output is not a terminal: then the JSON log lines tell the story.
 */
export function createProgressBar(stream: NodeJS.WriteStream, now: () => number = Date.now): { onEvent(e: SyncEvent): void; done(): void } {
  let total = 0;
  let windows = 0;
  let rows = 0;
  let failed = 0;
  const started = now();
  let lastDraw = 0;
  const draw = (force = false) => {
    const t = now();
    if (!force && t - lastDraw < 200) return;
    lastDraw = t;
    const secs = Math.max(0.001, (t - started) / 1000);
    const rate = rows / secs;
    const frac = total === 0 ? 1 : windows / total;
    const width = 24;
    const filled = Math.round(frac * width);
    const eta = windows > 0 && windows < total ? `${Math.round((secs / windows) * (total - windows))}s` : "-";
    const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
    stream.write(`\r${bar} ${windows}/${total} windows  ${rows} rows  ${Math.round(rate)} rows/s  ETA ${eta}${failed ? `  ${failed} failed` : ""}   `);
  };
  return {
    onEvent(e) {
      if (e.type === "planned") total = e.windows;
      else if (e.type === "page") rows += e.rows;
      else if (e.type === "window") {
        windows++;
        if (!e.ok) failed++;
      }
      draw();
    },
    done() {
      draw(true);
      stream.write("\n");
    },
  };
}
