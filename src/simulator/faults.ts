/**
 * Which request gets which fault. Queued faults come first and exactly in order (tests script
 * them); then each request draws from a seeded stream, so a run with the same seed and the same
 * request order injects the same faults.
 */
import { hash32, mulberry32, type Rng } from "./prng.js";
import { FAULT_KINDS, type FaultKind } from "./types.js";

const SALT_FAULTS = 0x46617574;

export class FaultPlan {
  private readonly queue: FaultKind[] = [];
  private readonly rng: Rng;
  private rate: number;
  private kinds: FaultKind[];
  readonly injected: Record<FaultKind, number>;

  constructor(seed: number, rate: number, kinds: readonly FaultKind[] | undefined) {
    this.rng = mulberry32(hash32(seed, SALT_FAULTS));
    this.rate = checkRate(rate);
    this.kinds = checkKinds(kinds);
    this.injected = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  }

  setRate(rate: number, kinds?: readonly FaultKind[]): void {
    this.rate = checkRate(rate);
    if (kinds) this.kinds = checkKinds(kinds);
  }

  enqueue(kinds: readonly FaultKind[]): void {
    this.queue.push(...checkKinds(kinds));
  }

  /** The fault for the next request, or null; counts it as injected. */
  next(): FaultKind | null {
    let kind: FaultKind | null = this.queue.shift() ?? null;
    if (kind === null && this.rate > 0 && this.kinds.length > 0 && this.rng() < this.rate) {
      kind = this.kinds[Math.floor(this.rng() * this.kinds.length)]!;
    }
    if (kind !== null) this.injected[kind]++;
    return kind;
  }
}

function checkRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`faultRate must be in [0, 1], got ${rate}`);
  return rate;
}

/** Undefined means every kind; an empty list means none. */
function checkKinds(kinds: readonly FaultKind[] | undefined): FaultKind[] {
  const list = kinds ? [...kinds] : [...FAULT_KINDS];
  for (const k of list) if (!FAULT_KINDS.includes(k)) throw new RangeError(`unknown fault kind: ${String(k)}`);
  return list;
}
