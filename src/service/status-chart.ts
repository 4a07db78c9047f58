import type { DayFigures } from "./archive-snapshot.js";

/** The chart is drawn in these units; the SVG scales to the width of its card. */
const W = 360;
const H = 170;
const PAD = { left: 36, right: 36, top: 12, bottom: 24 };

const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const hf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A round axis maximum at or above `value`: 1, 2, 5 x 10^n. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (m * p >= value) return m * p;
  return 10 * p;
}

/**
 * Daily requests as bars (left axis) and audio hours as a line (right axis), inline SVG with no
 * script: each day has a <title> a pointer or a screen reader can read.
 */
export function renderDailyChart(days: DayFigures[], label: string): string {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const maxReq = niceMax(Math.max(0, ...days.map((d) => d.requests)));
  const maxHours = niceMax(Math.max(0, ...days.map((d) => d.hours)));
  const step = plotW / Math.max(1, days.length);
  const x = (i: number) => PAD.left + i * step;
  const yReq = (v: number) => PAD.top + plotH - (v / maxReq) * plotH;
  const yHours = (v: number) => PAD.top + plotH - (v / maxHours) * plotH;
  const totalReq = days.reduce((a, d) => a + d.requests, 0);
  const totalHours = days.reduce((a, d) => a + d.hours, 0);

  const bars = days
    .map((d, i) => {
      const y = yReq(d.requests);
      return `<rect class="bar" x="${(x(i) + step * 0.15).toFixed(1)}" y="${y.toFixed(1)}" width="${(step * 0.7).toFixed(1)}" height="${(PAD.top + plotH - y).toFixed(1)}"><title>${d.day}: ${nf.format(d.requests)} requests, ${hf.format(d.hours)} hours</title></rect>`;
    })
    .join("");
  const line = days.map((d, i) => `${i === 0 ? "M" : "L"}${(x(i) + step / 2).toFixed(1)},${yHours(d.hours).toFixed(1)}`).join(" ");
  const gridLines = [0, 0.5, 1]
    .map((f) => {
      const y = (PAD.top + plotH - f * plotH).toFixed(1);
      return (
        `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}"/>` +
        `<text class="axis req" x="${PAD.left - 4}" y="${y}" text-anchor="end" dominant-baseline="middle">${compact(f * maxReq)}</text>` +
        `<text class="axis hours" x="${W - PAD.right + 4}" y="${y}" dominant-baseline="middle">${compact(f * maxHours)}h</text>`
      );
    })
    .join("");
  const ticks = [0, Math.floor((days.length - 1) / 2), days.length - 1]
    .filter((i, k, a) => days[i] && a.indexOf(i) === k)
    .map((i) => `<text class="axis" x="${(x(i) + step / 2).toFixed(1)}" y="${H - 6}" text-anchor="middle">${days[i]!.day.slice(5)}</text>`)
    .join("");
  const summary = `${label}: ${nf.format(totalReq)} requests and ${hf.format(totalHours)} audio hours over the last ${days.length} days`;
  return (
    `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(summary)}" preserveAspectRatio="xMidYMid meet">` +
    gridLines +
    bars +
    `<path class="hours-line" d="${line}" fill="none"/>` +
    ticks +
    `</svg>`
  );
}

function compact(v: number): string {
  if (v >= 1_000_000) return `${hf.format(v / 1_000_000)}M`;
  if (v >= 10_000) return `${nf.format(v / 1000)}k`;
  if (v >= 1000) return `${hf.format(v / 1000)}k`;
  return hf.format(v);
}
