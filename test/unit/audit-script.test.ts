import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * scripts/audit.mjs, the CI gate on advisories, run against a stand-in `npm` that prints a given
 * `npm audit --json` report (the registry's audit endpoint cannot be reached from every machine).
 */
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function audit(report: unknown): { code: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "dga-audit-"));
  dirs.push(dir);
  writeFileSync(join(dir, "report.json"), JSON.stringify(report));
  const npm = join(dir, "npm");
  writeFileSync(npm, `#!/bin/sh\n[ "$1 $2 $3" = "audit --omit=dev --json" ] || exit 9\ncat "${join(dir, "report.json")}"\n`);
  chmodSync(npm, 0o755);
  const r = spawnSync(process.execPath, [resolve("scripts/audit.mjs")], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
  return { code: r.status, out: r.stdout + r.stderr };
}

const metadata = (v: Record<string, number>) => ({ metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...v } } });

describe("scripts/audit.mjs", () => {
  it("fails on a high or critical advisory in production dependencies, naming it", () => {
    const high = audit({ ...metadata({ high: 1 }), vulnerabilities: { "some-lib": { severity: "high", range: "<1.2.3" } } });
    expect(high.code).toBe(1);
    expect(high.out).toContain("high: some-lib <1.2.3");
    expect(audit(metadata({ critical: 2 })).code).toBe(1);
  });

  it("passes with only moderate or low advisories, and says how many", () => {
    const r = audit(metadata({ moderate: 3, low: 1 }));
    expect(r.code).toBe(0);
    expect(r.out).toContain("0 critical, 0 high, 3 moderate, 1 low");
  });

  it("passes with a loud warning when the audit endpoint cannot be used", () => {
    const r = audit({ error: { code: "E405", summary: "405 Method Not Allowed" } });
    expect(r.code).toBe(0);
    expect(r.out).toContain("advisories were NOT checked");
  });
});
