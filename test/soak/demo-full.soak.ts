import { expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";

/** The full-size demo a newcomer runs (2 projects, 120 days, ~1,500 a day), timed. */
it("runs the full-size demo in under 60 seconds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dga-demo-full-"));
  try {
    const full = await runCli(["demo"], { ARCHIVER_DATA_DIR: dir }, 300_000);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/2 projects, 120 days, ~1,500 requests a day/);
    console.info(`full demo: ${full.ms} ms`);
    expect(full.ms).toBeLessThan(60_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
