/**
 * Seeded randomness for the simulator. Two tools, because they answer different needs:
 * - `mulberry32` is a sequential stream: fast, used where the order of draws is fixed
 *   (the timeline of one project, the fault plan).
 * - `hash32` maps a tuple of integers to a well-mixed 32-bit value: used wherever a value must be
 *   derived from a record's identity alone (its id, its content), so a record reads the same no
 *   matter when or in which order it is materialized.
 */

export type Rng = () => number;

/** A float in [0, 1) per call; the whole sequence is fixed by `seed`. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** murmur3's finalizer: a bijection on 32 bits with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Multiplicative inverse modulo 2^32 of an odd number (Newton's iteration doubles the good bits). */
function inverse32(a: number): number {
  let x = a;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x));
  return x >>> 0;
}
const INV_C1 = inverse32(0x85ebca6b);
const INV_C2 = inverse32(0xc2b2ae35);

/** The inverse of fmix32, so an id built from fmix32(serial) can be read back without an index. */
export function unfmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, INV_C2);
  h ^= (h >>> 13) ^ (h >>> 26);
  h = Math.imul(h, INV_C1);
  h ^= h >>> 16;
  return h >>> 0;
}

function step(h: number, part: number): number {
  // Values above 2^32 (microsecond timestamps, big serials) contribute both halves.
  h = fmix32(h ^ (part >>> 0)) + 0x7f4a7c15;
  const hi = Math.floor(part / 4294967296) >>> 0;
  return hi === 0 ? h : fmix32(h ^ hi) + 0x2545f491;
}

/** Mixes up to four integers into one 32-bit hash, from a given starting state. */
function hashFrom(init: number, a: number, b: number, c: number | undefined, d: number | undefined): number {
  // Fixed arity on purpose: this runs several times per generated record.
  let h = step(init, a);
  h = step(h, b);
  if (c !== undefined) h = step(h, c);
  if (d !== undefined) h = step(h, d);
  return fmix32(h >>> 0);
}

export function hash32(a: number, b: number, c?: number, d?: number): number {
  return hashFrom(0x9e3779b9, a, b, c, d);
}

/** A float in [0, 1) derived from a tuple. */
export function hashUnit(a: number, b: number, c?: number, d?: number): number {
  return hashFrom(0x9e3779b9, a, b, c, d) / 4294967296;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hex32(w: number): string {
  return HEX[(w >>> 24) & 255]! + HEX[(w >>> 16) & 255]! + HEX[(w >>> 8) & 255]! + HEX[w & 255]!;
}

/**
 * A version-4-shaped UUID determined by the tuple. Two independent hashes give 64 bits of
 * entropy, so even a million records per project collide with probability ~1e-8.
 */
export function uuidFrom(a: number, b: number, c?: number, d?: number): string {
  const x = hashFrom(0x9e3779b9, a, b, c, d);
  const y = hashFrom(0x3c6ef372, a, b, c, d);
  return uuidFromWords(x, fmix32(y ^ 0x85ebca6b), fmix32((x ^ 0xc2b2ae35) + y), y);
}

/** Formats four 32-bit words as a UUID, forcing the version-4 nibble and the RFC 4122 variant. */
export function uuidFromWords(w1: number, w2: number, w3: number, w4: number): string {
  const s2 = hex32((w2 & 0xffff0fff) | 0x00004000);
  const s3 = hex32((w3 & 0x3fffffff) | 0x80000000);
  return `${hex32(w1)}-${s2.slice(0, 4)}-${s2.slice(4)}-${s3.slice(0, 4)}-${s3.slice(4)}${hex32(w4)}`;
}

/** Picks an element with the given weights (need not sum to 1). */
export function pickWeighted<T>(rng: Rng, items: readonly (readonly [T, number])[]): T {
  let total = 0;
  for (const [, w] of items) total += w;
  let r = rng() * total;
  for (const [item, w] of items) {
    r -= w;
    if (r < 0) return item;
  }
  return items[items.length - 1]![0];
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

/** An integer in [lo, hi]. */
export function intBetween(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}
