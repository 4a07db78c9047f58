import { describe, expect, it } from "vitest";
import { explicitWindows, planWindows, type LedgerEntry } from "../../src/sync/planner.js";

const H = 3_600_000;
const D = 24 * H;
const now = Date.parse("2026-11-20T12:20:00Z");
// First seen long ago: every window the horizon passed could have been archived.
const base = { now, windowMs: H, settleMs: 15 * 60_000, rescanMs: 72 * H, firstSeenAt: now - 200 * D };

describe("planWindows", () => {
  it("plans every closed window from the archive start, oldest first", () => {
    const archiveStart = now - 3 * H - 20 * 60_000; // 09:00
    const plan = planWindows({ ...base, archiveStart, ledger: [] });
    expect(plan.windows.map((w) => new Date(w.start).toISOString())).toEqual([
      "2026-11-20T09:00:00.000Z",
      "2026-11-20T10:00:00.000Z",
      "2026-11-20T11:00:00.000Z",
    ]);
    expect(plan.windows.every((w) => w.reason === "backfill")).toBe(true);
    expect(plan.closedWindows).toBe(3);
  });

  it("does not plan the window that has not settled", () => {
    const plan = planWindows({ ...base, now: Date.parse("2026-11-20T12:10:00Z"), archiveStart: Date.parse("2026-11-20T11:00:00Z"), ledger: [] });
    expect(plan.windows).toEqual([]);
  });

  it("puts incomplete windows before the rescan horizon and skips old complete ones", () => {
    const archiveStart = now - 5 * D;
    const start0 = Math.floor(archiveStart / H) * H;
    const ledger: LedgerEntry[] = [];
    for (let s = start0; s + H <= now - 15 * 60_000; s += H) {
      if (s === start0 + 2 * H || s === start0 + 100 * H) continue; // two windows never completed
      ledger.push({ start: s, end: s + H, state: "complete", parts: 1 });
    }
    const plan = planWindows({ ...base, archiveStart, ledger });
    const reasons = plan.windows.map((w) => w.reason);
    expect(plan.windows[0]!.start).toBe(start0 + 2 * H);
    expect(plan.windows[1]!.start).toBe(start0 + 100 * H);
    expect(reasons.slice(0, 2)).toEqual(["backfill", "backfill"]);
    // 72 windows end inside the rescan horizon; one of them is incomplete, so it is backfill.
    expect(reasons.filter((r) => r === "rescan")).toHaveLength(71);
    expect(plan.completeWindows).toBe(plan.closedWindows - 2);
  });

  it("treats a window covered by narrower complete entries as complete", () => {
    const s = Date.parse("2026-11-10T00:00:00Z");
    const ledger: LedgerEntry[] = [
      { start: s, end: s + H / 2, state: "complete", parts: 1 },
      { start: s + H / 2, end: s + H, state: "complete", parts: 1 },
    ];
    const plan = planWindows({ ...base, archiveStart: s, ledger });
    expect(plan.windows.find((w) => w.start === s)).toBeUndefined();
  });

  it("turns unarchived windows past the horizon, and the part of the next one the horizon passed, into one merged gap", () => {
    const archiveStart = now - 92 * D;
    const horizon = now - 90 * D; // 2026-08-22T12:20Z, 20 minutes into its window
    const straddling = Math.floor(horizon / H) * H;
    const first = planWindows({ ...base, archiveStart, ledger: [] });
    expect(first.gaps).toEqual([{ start: Math.floor(archiveStart / H) * H, end: horizon }]);
    expect(first.lost.at(-1)).toEqual({ start: straddling - H, end: straddling });
    expect(first.windows[0]).toEqual({ start: straddling, end: straddling + H, parts: 1, reason: "backfill" });
    // The lost windows are reported once; the window the horizon reached, while still unread, reaches the new horizon.
    const lost = first.lost.map((w) => ({ ...w, state: "lost" as const, parts: 1 }));
    const later = planWindows({ ...base, now: now + 10 * 60_000, archiveStart, ledger: lost });
    expect(later.gaps).toEqual([{ start: straddling, end: horizon + 10 * 60_000 }]);
    // Once it is archived, nothing more.
    const done = planWindows({ ...base, archiveStart, ledger: [...lost, { start: straddling, end: straddling + H, state: "complete", parts: 1 }] });
    expect(done.gaps).toEqual([]);
    expect(done.windows.find((w) => w.start === straddling)).toBeUndefined();
  });

  it("records no gap for what the horizon had passed before the project was first seen", () => {
    // A first pass at 12:20: its archive starts at the window holding the horizon, whose first 20 minutes Deepgram no longer lists.
    const plan = planWindows({ ...base, firstSeenAt: now, archiveStart: Math.floor((now - 90 * D) / H) * H, ledger: [] });
    expect(plan.gaps).toEqual([]);
    expect(plan.windows[0]!.start).toBe(Math.floor((now - 90 * D) / H) * H);
  });

  it("adds windows with pending rows and flagged windows after the rescan horizon", () => {
    const archiveStart = now - 10 * D;
    const s0 = Math.floor(archiveStart / H) * H;
    const ledger: LedgerEntry[] = [];
    for (let s = s0; s + H <= now; s += H) ledger.push({ start: s, end: s + H, state: "complete", parts: 2 });
    const plan = planWindows({ ...base, archiveStart, ledger, pendingStarts: new Set([s0 + 5 * H]), flaggedStarts: new Set([s0 + 7 * H]) });
    const extra = plan.windows.filter((w) => w.reason !== "rescan");
    expect(extra.map((w) => [w.reason, w.start - s0, w.parts])).toEqual([
      ["flagged", 7 * H, 2],
      ["pending", 5 * H, 2],
    ]);
  });

  it("fetches windows the watermark passed when the clock went back", () => {
    const archiveStart = now - 30 * D;
    // A pass with the clock 100 days ahead marked everything lost and moved the watermark.
    const ahead = planWindows({ ...base, now: now + 100 * D, archiveStart, ledger: [] });
    const ledger = ahead.lost.map((w) => ({ ...w, state: "lost" as const, parts: 1 }));
    const back = planWindows({ ...base, archiveStart, accountedUntil: ahead.accountedUntil, ledger });
    expect(back.windows.filter((w) => w.reason === "backfill")).toHaveLength(back.closedWindows);
    expect(back.gaps).toEqual([]);
  });
});

describe("explicitWindows", () => {
  it("covers [since, until) within the horizon and ignores the ledger's state", () => {
    const since = Date.parse("2026-11-19T00:00:00Z");
    const until = Date.parse("2026-11-19T03:00:00Z");
    const ws = explicitWindows({ since, until, now, windowMs: H, settleMs: 0, ledger: [{ start: since, end: since + H, state: "complete", parts: 4 }] });
    expect(ws.map((w) => [w.start - since, w.parts, w.reason])).toEqual([
      [0, 4, "explicit"],
      [H, 1, "explicit"],
      [2 * H, 1, "explicit"],
    ]);
  });

});
