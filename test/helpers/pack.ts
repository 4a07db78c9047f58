import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./cli.js";

const exec = promisify(execFile);

/** What goes into the package: any change to these makes a new tarball. */
const INPUTS = ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md", ".env.example", "src", "migrations"];

let packed: Promise<string> | null = null;

/**
 * `npm pack` of the project as it is on disk, built once per content: test files in several
 * processes (the image test, the install test) share one tarball through a folder in the temp
 * directory named by a hash of the inputs. The build runs in a copy of the sources, so it never
 * writes into the working tree's dist/. Returns the tarball's path.
 */
export function packProject(): Promise<string> {
  packed ??= packOnce();
  return packed;
}

async function packOnce(): Promise<string> {
  const dir = join(tmpdir(), `dga-pack-${inputsHash()}`);
  const ready = join(dir, "READY");
  mkdirSync(dir, { recursive: true });
  if (existsSync(ready)) return readFileSync(ready, "utf8");
  const lock = join(dir, "LOCK");
  if (!tryLock(lock)) {
    // Another process is packing the same content: wait for it (or take over a stale lock).
    const end = Date.now() + 300_000;
    while (!existsSync(ready)) {
      if (Date.now() > end) throw new Error(`waited 5 minutes for another test process to pack into ${dir}`);
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 300_000) {
        rmSync(lock, { force: true });
        return packOnce();
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return readFileSync(ready, "utf8");
  }
  try {
    const src = join(dir, "src");
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src);
    for (const name of INPUTS) if (existsSync(join(ROOT, name))) cpSync(join(ROOT, name), join(src, name), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(src, "node_modules"), "dir");
    const { stdout } = await exec("npm", ["pack", "--json", "--pack-destination", dir], { cwd: src, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
    const [info] = JSON.parse(stdout) as Array<{ filename: string }>;
    const tarball = join(dir, info!.filename);
    writeFileSync(ready, tarball);
    return tarball;
  } finally {
    rmSync(lock, { force: true });
  }
}

function tryLock(path: string): boolean {
  try {
    closeSync(openSync(path, "wx"));
    return true;
  } catch {
    return false;
  }
}

function inputsHash(): string {
  const hash = createHash("sha256");
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    const st = statSync(path);
    if (st.isDirectory()) {
      for (const entry of readdirSync(path).sort()) visit(join(path, entry));
      return;
    }
    hash.update(relative(ROOT, path)).update("\0").update(readFileSync(path)).update("\0");
  };
  for (const name of INPUTS) visit(join(ROOT, name));
  return hash.digest("hex").slice(0, 16);
}

/**
 * What the image's final stage does, in `dir`: the packed files, the lockfile, production
 * dependencies only (`npm ci --omit=dev`, no scripts). Returns the path of the CLI entry.
 */
export async function installLikeImage(tarball: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await exec("tar", ["-xzf", tarball, "-C", dir, "--strip-components=1"]);
  cpSync(join(ROOT, "package-lock.json"), join(dir, "package-lock.json"));
  await exec("npm", ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: "production" },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 300_000,
  });
  return join(dir, "dist", "src", "cli.js");
}
