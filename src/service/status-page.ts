import { DateTime } from "luxon";
import { formatDuration } from "../duration.js";
import type { ArchiveSnapshot, ProjectSnapshot } from "./archive-snapshot.js";
import { HORIZON_ALERT_SECONDS } from "./alerts.js";
import { escapeHtml as h, renderDailyChart } from "./status-chart.js";

/** What this process knows about itself, beside what the database says about the archive. */
export interface ServiceView {
  schedule: string;
  timezone: string;
  ready: { ready: boolean; reason: string | null };
  passRunningSince: Date | null;
  lastPass: { outcome: string; finishedAt: Date; seconds: number } | null;
  nextRun: Date | null;
}

const nf = new Intl.NumberFormat("en-US");

/**
 * The status page: plain server-rendered HTML and inline SVG, no script, no external asset.
 * It shows names, ids, counts and times only: never the key, the database URL or an error's
 * environment. Laid out as a grid of cards that becomes one column on a phone.
 */
export function renderStatusPage(snapshot: ArchiveSnapshot, service: ServiceView, now: Date): string {
  const at = (d: Date | string | null) => (d === null ? "never" : formatTime(d, service.timezone, now));
  const cards = snapshot.projects.map((p) => projectCard(p, service.timezone, now)).join("\n");
  const lp = service.lastPass;
  const readiness = service.ready.ready ? `<span class="ok">ready</span>` : `<span class="bad">not ready</span>: ${h(service.ready.reason ?? "")}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>deepgram-archiver status</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>deepgram-archiver</h1>
  <p class="sub">Deepgram request logs archived into Postgres. Page made ${h(at(now))}; it refreshes every minute.</p>
</header>
<section class="service" aria-label="this process">
  <div><span class="k">This process</span> ${readiness}</div>
  <div><span class="k">Last pass</span> ${lp ? `${outcomeBadge(lp.outcome)} ${h(at(lp.finishedAt))}, took ${h(formatDuration(lp.seconds * 1000))}` : "none yet"}</div>
  <div><span class="k">Now</span> ${service.passRunningSince ? `a pass is running since ${h(at(service.passRunningSince))}` : "idle"}</div>
  <div><span class="k">Next pass</span> ${service.nextRun ? h(at(service.nextRun)) : "not scheduled"} <span class="muted">(<code>${h(service.schedule)}</code>, ${h(service.timezone)})</span></div>
  <div><span class="k">Rollups</span> ${nf.format(snapshot.dirtyDays)} day${snapshot.dirtyDays === 1 ? "" : "s"} waiting to be summarized</div>
</section>
<main>
${cards || `<p class="empty">No project archived yet. The first pass is on its way.</p>`}
</main>
<footer>Chart: daily requests (bars, left axis) and audio hours (line, right axis) over the last 30 days in ${h(service.timezone)}, from ${
    snapshot.chartSource === "daily_usage_totals" ? "the daily rollups" : "the archived request logs"
  }. Metrics at <a href="metrics">/metrics</a>.</footer>
</body>
</html>
`;
}

function projectCard(p: ProjectSnapshot, timezone: string, now: Date): string {
  const low = p.horizonMarginSeconds < HORIZON_ALERT_SECONDS;
  const pct = p.windowsClosed === 0 ? 100 : Math.floor((p.windowsComplete / p.windowsClosed) * 1000) / 10;
  const day = (iso: string | null) => (iso ? DateTime.fromISO(iso, { zone: timezone }).toISODate() : "");
  const attempt = p.lastAttempt;
  const rec = p.reconciliation;
  const reconciliation =
    rec === null
      ? `<span class="muted">not available in this database yet</span>`
      : rec.okDays + rec.mismatchDays + rec.otherDays === 0
        ? `<span class="muted">not run yet</span>`
        : (rec.mismatchDays === 0
            ? `<span class="ok">no mismatch</span>: ${nf.format(rec.okDays)} days agree with Deepgram's usage`
            : `<span class="bad">${nf.format(rec.mismatchDays)} day${rec.mismatchDays === 1 ? "" : "s"} disagree</span> with Deepgram's usage (latest ${h(rec.latestMismatches.join(", "))}); ${nf.format(rec.okDays)} agree`) +
          (rec.otherDays > 0 ? `<br><span class="muted">${nf.format(rec.otherDays)} partial or without vendor figures</span>` : "");
  const title = p.name ?? p.projectId;
  return `<article class="project${low ? " alert" : ""}">
  <h2>${h(title)}</h2>
  <p class="id">${h(p.projectId)}</p>
  <div class="margin${low ? " low" : ""}">
    <span class="k">Horizon margin</span>
    <strong>${h(formatDuration(p.horizonMarginSeconds * 1000))}</strong>
    ${low ? `<span class="flag">under 14 days: logs will be lost unless passes succeed</span>` : `<span class="muted">before unarchived logs fall off the 90-day horizon</span>`}
  </div>
  <dl>
    <dt>Archived</dt><dd><strong>${nf.format(p.rows)}</strong> requests${p.oldest ? `<br><span class="muted">${h(day(p.oldest)!)} to ${h(day(p.newest)!)}</span>` : ""}</dd>
    <dt>Last pass</dt><dd>${attempt ? `${outcomeBadge(attempt.outcome)} ${h(attempt.finishedAt ? formatTime(attempt.finishedAt, timezone, now) : "running")}${attempt.error && attempt.outcome !== "succeeded" ? `<br><span class="err">${h(attempt.error)}</span>` : ""}` : "none yet"}</dd>
    <dt>Last success</dt><dd>${p.lastSuccessAt ? h(formatTime(p.lastSuccessAt, timezone, now)) : `<span class="bad">never</span>`}</dd>
    <dt>Windows</dt><dd>${nf.format(p.windowsComplete)} of ${nf.format(p.windowsClosed)} complete (${pct}%)</dd>
    <dt>Gaps</dt><dd>${p.gaps === 0 ? `<span class="ok">none</span>` : `<span class="bad">${nf.format(p.gaps)}</span>, ${h(formatDuration(p.gapSeconds * 1000))} lost`}</dd>
    <dt>Reconciliation</dt><dd>${reconciliation}</dd>
    <dt>Dirty days</dt><dd>${nf.format(p.dirtyDays)}</dd>
  </dl>
  <figure>
    ${renderDailyChart(p.daily, title)}
    <figcaption><span class="swatch req"></span>requests per day <span class="swatch hours"></span>audio hours per day</figcaption>
  </figure>
</article>`;
}

function outcomeBadge(outcome: string): string {
  const cls = outcome === "succeeded" ? "ok" : outcome === "skipped" || outcome === "aborted" ? "muted" : "bad";
  return `<span class="badge ${cls}">${h(outcome)}</span>`;
}

/** "2026-11-20 12:05 UTC (3 min ago)" in the archive's zone. */
function formatTime(d: Date | string, timezone: string, now: Date): string {
  const t = typeof d === "string" ? DateTime.fromISO(d, { zone: timezone }) : DateTime.fromJSDate(d, { zone: timezone });
  const diff = now.getTime() - t.toMillis();
  const rel = Math.abs(diff) < 60_000 ? "just now" : diff > 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
  return `${t.toFormat("yyyy-MM-dd HH:mm")} ${t.offsetNameShort ?? timezone} (${rel})`;
}

const STYLE = `
:root { color-scheme: light; --ok: #1b7f3b; --bad: #b3261e; --muted: #5f6368; --line: #dadce0; --req: #4a78c2; --hours: #e07b00; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f1f1f; background: #f6f7f9; }
header, .service, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 20px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
.sub { margin: 0 0 12px; color: var(--muted); }
.service { margin: 0 max(16px, calc((100% - 1208px) / 2)); display: flex; flex-wrap: wrap; gap: 6px 24px; padding-top: 10px; padding-bottom: 10px; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
.service .k, .margin .k { color: var(--muted); margin-right: 6px; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; margin-top: 16px; }
.project { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
.project.alert { border-color: var(--bad); box-shadow: 0 0 0 2px #f4c7c3; }
h2 { font-size: 1.15rem; margin: 0; overflow-wrap: anywhere; }
.id { margin: 2px 0 10px; font: 12px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; color: var(--muted); overflow-wrap: anywhere; }
.margin { padding: 8px 10px; border-radius: 6px; background: #eef6f0; border: 1px solid #cfe6d6; }
.margin strong { font-size: 1.25rem; margin-right: 8px; }
.margin.low { background: #fce8e6; border-color: var(--bad); }
.margin.low strong, .flag { color: var(--bad); font-weight: 700; }
.margin .muted, .flag { display: block; font-size: 0.85rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 12px 0; }
dt { color: var(--muted); }
dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.ok { color: var(--ok); font-weight: 600; }
.bad, .err { color: var(--bad); font-weight: 600; }
.err { font-weight: 400; font-size: 0.85rem; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; border: 1px solid currentColor; font-size: 0.85rem; }
figure { margin: 0; }
.chart { width: 100%; height: auto; display: block; }
.chart .bar { fill: var(--req); }
.chart .hours-line { stroke: var(--hours); stroke-width: 2; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { font-size: 11px; fill: var(--muted); }
.chart .axis.req { fill: var(--req); }
.chart .axis.hours { fill: var(--hours); }
figcaption { font-size: 0.85rem; color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 8px; border-radius: 2px; vertical-align: baseline; }
.swatch.req { background: var(--req); margin-left: 0; }
.swatch.hours { background: var(--hours); }
footer { margin: 16px auto 24px; font-size: 0.85rem; color: var(--muted); }
.empty { color: var(--muted); }
@media (max-width: 480px) {
  body { font-size: 15px; }
  main { grid-template-columns: 1fr; }
  .service { flex-direction: column; }
}
`;
