import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "kysely";
import { API_KEY, createArchiveFixture, type ArchiveFixture } from "../helpers/archive-fixture.js";
import { createDeepgramClient } from "../../src/deepgram/index.js";
import { silentLogger } from "../../src/logger.js";
import { createArchiverService, type ArchiverService } from "../../src/service/service.js";
import { getStatus } from "../../src/commands/status.js";
import { formatDuration } from "../../src/duration.js";

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = process.env.STATUS_PAGE_SHOTS ?? tmpdir();
const D = 86_400_000;
const START = "2026-11-20T12:20:00Z";

let f: ArchiveFixture;
let service: ArchiverService;
let profile: string;

/** Headless Chromium as a person's browser: what it renders, at a given window size. */
async function chromium(args: string[]): Promise<string> {
  const flags = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    `--user-data-dir=${profile}`,
  ];
  const { stdout } = await run(CHROMIUM, [...flags, ...args], { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 });
  return stdout;
}

/** The text a reader sees in an element's markup: tags dropped, entities decoded, spaces collapsed. */
function visibleText(html: string): string {
  return html
    .replace(/<style[\s\S]*?<\/style>/g, "")
    .replace(/<title>[\s\S]*?<\/title>/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .replace(/ ([:;,.)])/g, "$1")
    .trim();
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`This test needs Debian's chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM=/path/to/chromium).`);
  profile = mkdtempSync(join(tmpdir(), "dga-chromium-"));
  // Records run 77 days past the start, so after the clock moves there the last 30 days have traffic.
  f = await createArchiveFixture("status_page", {
    now: START,
    sim: { projects: 3, perDay: 48, days: 167, anchor: new Date(Date.parse(START) + 77 * D) },
    settings: { windowMs: 24 * 3_600_000 },
  });
  const client = createDeepgramClient({ baseUrl: f.sim.url, apiKey: API_KEY, timeoutMs: 2_000, retries: 8, minDelayMs: 1, maxDelayMs: 20, clock: f.clock });
  service = createArchiverService({
    database: f.database,
    client,
    clock: f.clock,
    logger: silentLogger(),
    settings: f.settings,
    schedule: "*/15 * * * *",
    http: { host: "127.0.0.1", port: 0, token: null },
    cron: false,
    passAtStart: false,
  });
  await service.start();
  expect((await service.tick()).ran).toBe(true);
  // Project 1 then loses access for 77 days: its margin shrinks under 14 days. Project 3's vendor
  // figures disagree on one day.
  const [p1, , p3] = f.sim.projects();
  f.sim.control.forbidProject(p1!.project_id);
  f.clock.advance(77 * D);
  f.sim.control.overReportUsage(p3!.project_id, new Date(f.clock.now().getTime() - 3 * D).toISOString().slice(0, 10), 7);
  expect((await service.tick()).ran).toBe(true);
}, 300_000);
afterAll(async () => {
  await service?.stop();
  await f?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe("the status page in a browser", () => {
  it("shows each project's figures, a highlighted margin under 14 days and a 30-day chart", async () => {
    const dom = await chromium(["--dump-dom", `${service.url}/`]);
    const status = await getStatus(f.database, f.clock, f.settings);
    const cards = dom.split('<article class="project').slice(1);
    expect(cards).toHaveLength(3);
    const [p1, p2, p3] = f.sim.projects();
    const nf = new Intl.NumberFormat("en-US");
    for (const p of [p1!, p2!, p3!]) {
      const s = status.projects.find((x) => x.projectId === p.project_id)!;
      const card = cards.find((c) => c.includes(p.project_id))!;
      const text = visibleText(card.slice(card.indexOf(">") + 1));
      expect(text.startsWith(`${p.name} ${p.project_id} Horizon margin ${formatDuration(s.horizonMarginSeconds * 1000)}`)).toBe(true);
      expect(text).toContain(`Archived ${nf.format(s.rows)} requests`);
      expect(text).toContain(`Windows ${nf.format(s.windowsComplete)} of ${nf.format(s.windowsClosed)} complete`);
      const low = s.horizonMarginSeconds < 14 * 86_400;
      expect(low).toBe(p === p1);
      expect(card.startsWith(low ? ' alert">' : '">')).toBe(true);
      expect(text.includes("under 14 days: logs will be lost unless passes succeed")).toBe(low);
      // The chart: 30 bars, each titled with the day's figures from the rollups.
      expect(card.match(/<rect class="bar"/g)).toHaveLength(30);
      const days = await sql<{ day: string; requests: number; hours: number }>`
        select to_char(day, 'YYYY-MM-DD') as day, requests::int as requests, hours::float8 as hours from deepgram_archive.daily_usage_totals
        where project_id = ${p.project_id} and day = (${f.clock.now().toISOString().slice(0, 10)}::date - 1)`.execute(f.database.db);
      const y = days.rows[0] ?? { day: new Date(f.clock.now().getTime() - D).toISOString().slice(0, 10), requests: 0, hours: 0 };
      expect(card).toContain(`<title>${y.day}: ${nf.format(y.requests)} requests, ${new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 }).format(y.hours)} hours</title>`);
      expect(y.requests > 0).toBe(p !== p1);
    }
    const c1 = visibleText(cards.find((c) => c.includes(p1!.project_id))!.replace(/^[^>]*>/, ""));
    expect(c1).toMatch(/Last pass failed .*403/);
    const c3 = visibleText(cards.find((c) => c.includes(p3!.project_id))!.replace(/^[^>]*>/, ""));
    expect(c3).toMatch(/Reconciliation 1 day disagree with Deepgram's usage \(latest \d{4}-\d{2}-\d{2}\)/);
    // Project 1 fails, so this process has had no fully successful pass since the clock moved: it says why.
    expect(visibleText(dom)).toContain("This process not ready: no pass has succeeded for 77d 0h (two schedule intervals are 30m); the last pass partial: Deepgram says the API key lacks permission");
    expect(dom).not.toContain(API_KEY);
  });

  it("renders at 1280 and 390 pixels wide", async () => {
    for (const [w, h] of [
      [1280, 1500],
      [390, 2900],
    ] as const) {
      const file = join(SHOTS, `deepgram-archiver-status-${w}.png`);
      rmSync(file, { force: true });
      await chromium([`--screenshot=${file}`, `--window-size=${w},${h}`, `${service.url}/`]);
      expect(statSync(file).size).toBeGreaterThan(20_000);
      console.info(`status page at ${w}px: ${file}`);
    }
  });
});
