/**
 * Everything the simulated account knows: resolved options, one store per project, the switches
 * the controls flip, and the counters `stats()` reports. The HTTP layer and the controls both work
 * on this object; neither owns the other.
 */
import type { Clock } from "../clock.js";
import { buildProjectSpec } from "./data.js";
import { FaultPlan } from "./faults.js";
import { hash32, mulberry32, type Rng } from "./prng.js";
import { ProjectStore } from "./store.js";
import { DAY_US, msToUs } from "./time.js";
import type { PageFetch, SimulatorOptions } from "./types.js";

const SALT_CONTROL = 0x43746c31;

export class SimulatorState {
  readonly clock: Clock;
  readonly apiKey: string;
  readonly seed: number;
  readonly anchorUs: number;
  readonly horizonUs: number;
  readonly maxLimit: number;
  readonly endCoversSecond: boolean;
  readonly slowMs: number;
  latencyMs: number;
  readonly stores: ProjectStore[];
  private readonly byId = new Map<string, ProjectStore>();
  readonly faults: FaultPlan;
  /** Draws for controls (which records to mutate, when late records happened). */
  readonly controlRng: Rng;

  revoked = false;
  readonly forbidden = new Set<string>();
  /** `${projectId} ${day}` -> extra requests /usage reports. */
  readonly overReport = new Map<string, number>();
  /** projectId -> records to add on the next page >= 1 of that project. */
  readonly pagingInserts = new Map<string, number>();

  requestsServed = 0;
  pagesServed = 0;
  readonly pageFetches: PageFetch[] = [];

  constructor(options: SimulatorOptions) {
    this.clock = options.clock;
    this.apiKey = options.apiKey;
    if (!options.apiKey) throw new RangeError("apiKey must be a non-empty string");
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    const projects = nonNegative("projects", options.projects ?? 2);
    const days = nonNegative("days", options.days ?? 95);
    const perDay = nonNegative("perDay", options.perDay ?? 200);
    this.anchorUs = msToUs((options.anchor ?? options.clock.now()).getTime());
    this.horizonUs = nonNegative("horizonDays", options.horizonDays ?? 90) * DAY_US;
    this.maxLimit = Math.max(1, Math.floor(nonNegative("maxLimit", options.maxLimit ?? 1000)));
    this.endCoversSecond = options.endCoversSecond ?? false;
    this.slowMs = nonNegative("slowMs", options.slowMs ?? 2000);
    this.latencyMs = nonNegative("latencyMs", options.latencyMs ?? 0);
    this.faults = new FaultPlan(this.seed, options.faultRate ?? 0, options.faultKinds);
    this.controlRng = mulberry32(hash32(this.seed, SALT_CONTROL));
    this.stores = [];
    for (let i = 0; i < Math.floor(projects); i++) {
      const store = new ProjectStore(buildProjectSpec(this.seed, i, this.anchorUs, days), this.anchorUs, days, perDay);
      this.stores.push(store);
      this.byId.set(store.spec.project.project_id, store);
    }
  }

  nowUs(): number {
    return msToUs(this.clock.now().getTime());
  }

  /** The latest "now" any call has seen: what fell off the horizon then stays deleted. */
  private latestNowUs = -Infinity;

  /**
   * What the API lists right now: created in [now - horizon, now], both inclusive. Deepgram's
   * deletion is permanent, so when the injected clock moves backward the lower bound does not:
   * it stays at the latest now seen minus the horizon.
   */
  visibleBounds(): [number, number] {
    const now = this.nowUs();
    if (now > this.latestNowUs) this.latestNowUs = now;
    return [this.latestNowUs - this.horizonUs, now];
  }

  find(projectId: string): ProjectStore | undefined {
    return this.byId.get(projectId);
  }

  /** For the in-process API: an unknown id is a bug in the caller, so it throws. */
  store(projectId: string): ProjectStore {
    const s = this.byId.get(projectId);
    if (!s) throw new RangeError(`unknown simulator project: ${projectId}`);
    return s;
  }

  /** The given project, or every project when none is given. */
  targets(projectId: string | undefined): ProjectStore[] {
    return projectId === undefined ? this.stores : [this.store(projectId)];
  }
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
  return value;
}
