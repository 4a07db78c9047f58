/**
 * The deterministic skeleton of a simulated account: projects, their keys, and each project's
 * timeline of `created` instants. Item bodies are not stored; `items.ts` derives them on demand
 * from (project seed, serial), which keeps a million records at ~25 bytes each.
 */
import { KEY_COMMENTS, KEY_SCOPES, PROJECT_NAMES, TAG_POOL } from "./catalog.js";
import { fmix32, hash32, mulberry32, unfmix32, uuidFrom, uuidFromWords } from "./prng.js";
import { DAY_US, HOUR_US, formatUs } from "./time.js";
import type { SimKey, SimProject } from "./types.js";

export interface ProjectSpec {
  index: number;
  /** Root of everything derived for this project; independent of how many projects exist. */
  seed: number;
  project: SimProject;
  keys: SimKey[];
  /** [api_key_id, relative share of traffic] per key. */
  keyTable: (readonly [string, number])[];
}

const SALT_PROJECT = 0x50726f6a;
const SALT_KEY = 0x4b657973;
const SALT_TIMELINE = 0x54696d65;
const SALT_REQUEST_ID = 0x52657149;

/** Probability that a record sits exactly on an hour boundary, to exercise window edges. */
const ON_HOUR_SHARE = 0.01;

export function buildProjectSpec(seed: number, index: number, anchorUs: number, days: number): ProjectSpec {
  const projectSeed = hash32(seed, SALT_PROJECT, index);
  const baseName = PROJECT_NAMES[index % PROJECT_NAMES.length]!;
  const project: SimProject = {
    project_id: uuidFrom(projectSeed, SALT_PROJECT),
    name: index < PROJECT_NAMES.length ? baseName : `${baseName} ${index + 1}`,
  };
  const rng = mulberry32(hash32(projectSeed, SALT_KEY));
  const keyCount = 5;
  const keys: SimKey[] = [];
  const keyTable: (readonly [string, number])[] = [];
  for (let k = 0; k < keyCount; k++) {
    const slot = (index + k) % KEY_COMMENTS.length;
    // Keys predate the data, so every record's key already exists when the record is created.
    const createdUs = anchorUs - Math.round(days * DAY_US) - Math.floor((30 + rng() * 400) * DAY_US);
    const expires = rng() < 0.4 ? formatUs(anchorUs + Math.floor((60 + rng() * 300) * DAY_US)) : null;
    keys.push({
      api_key_id: uuidFrom(projectSeed, SALT_KEY, k),
      comment: KEY_COMMENTS[slot]!,
      scopes: [...KEY_SCOPES[slot]!],
      tags: k % 2 === 0 ? [TAG_POOL[(index + k) % TAG_POOL.length]!] : [],
      created: formatUs(createdUs),
      expiration_date: expires,
      member: { member_id: uuidFrom(projectSeed, SALT_KEY, k, 1), email: `member${k + 1}@project${index + 1}.example.com` },
    });
    keyTable.push([keys[k]!.api_key_id, k === 0 ? 5 : 1 + rng() * 2]);
  }
  return { index, seed: projectSeed, project, keys, keyTable };
}

/**
 * The request id of a record; a pure function of its identity so it is never stored. The first
 * word is a bijection of the serial, which makes ids unique within a project by construction and
 * lets `serialOfRequestId` find a record without an index over a million ids.
 */
export function requestIdOf(spec: ProjectSpec, serial: number): string {
  const x = hash32(spec.seed, SALT_REQUEST_ID, serial);
  const y = hash32(x, SALT_REQUEST_ID);
  return uuidFromWords(fmix32((serial ^ spec.seed) >>> 0), x, y, fmix32(x ^ y));
}

/** The serial a request id was made from, if it was made by `requestIdOf` for this project. */
export function serialOfRequestId(spec: ProjectSpec, requestId: string, count: number): number | undefined {
  if (!/^[0-9a-f]{8}-/.test(requestId)) return undefined;
  const serial = (unfmix32(parseInt(requestId.slice(0, 8), 16)) ^ spec.seed) >>> 0;
  return serial < count && requestIdOf(spec, serial) === requestId ? serial : undefined;
}

/**
 * `created` instants (µs) of `round(days * perDay)` records in [anchor - days, anchor), ascending.
 * Hours get a share of the total weighted by a daily cycle (busy afternoons UTC, quieter weekends)
 * with per-hour jitter; cumulative rounding keeps the total exact and the work O(n).
 */
export function generateTimeline(spec: ProjectSpec, anchorUs: number, days: number, perDay: number): Float64Array {
  const total = Math.max(0, Math.round(days * perDay));
  const startUs = anchorUs - Math.round(days * DAY_US);
  const out = new Float64Array(total);
  if (total === 0 || startUs >= anchorUs) return out;
  const rng = mulberry32(hash32(spec.seed, SALT_TIMELINE));
  const firstHour = Math.floor(startUs / HOUR_US) * HOUR_US;
  const hours = Math.ceil((anchorUs - firstHour) / HOUR_US);
  const weights = new Float64Array(hours);
  let weightSum = 0;
  for (let h = 0; h < hours; h++) {
    const hs = firstHour + h * HOUR_US;
    const span = Math.min(hs + HOUR_US, anchorUs) - Math.max(hs, startUs);
    if (span <= 0) continue;
    const date = new Date(hs / 1000);
    const cycle = 1 + 0.45 * Math.sin((2 * Math.PI * (date.getUTCHours() - 9)) / 24);
    const weekday = date.getUTCDay();
    const week = weekday === 0 || weekday === 6 ? 0.7 : 1;
    const w = cycle * week * (0.75 + 0.5 * rng()) * (span / HOUR_US);
    weights[h] = w;
    weightSum += w;
  }
  let p = 0;
  let cum = 0;
  for (let h = 0; h < hours; h++) {
    const w = weights[h]!;
    if (w === 0) continue;
    const before = Math.round((cum / weightSum) * total);
    cum += w;
    const after = h === hours - 1 ? total : Math.round((cum / weightSum) * total);
    const count = after - before;
    if (count <= 0) continue;
    const hs = firstHour + h * HOUR_US;
    const lo = Math.max(hs, startUs);
    const width = Math.min(hs + HOUR_US, anchorUs) - lo;
    const boundaryInside = hs >= startUs;
    const from = p;
    for (let i = 0; i < count; i++) {
      out[p++] = boundaryInside && rng() < ON_HOUR_SHARE ? hs : lo + Math.floor(rng() * width);
    }
    out.subarray(from, p).sort();
  }
  return out;
}
