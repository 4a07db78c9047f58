/**
 * One project's records, kept as parallel typed arrays in listing order (newest first; equal
 * `created` ordered by request_id ascending). A window query is two binary searches, and a page is
 * a slice, so a request costs O(log n + limit) however many records there are. Items are built on
 * demand from (serial, created, state); only the state bits and revision counts are mutable.
 */
import { generateTimeline, requestIdOf, serialOfRequestId, type ProjectSpec } from "./data.js";
import { FLAG_CALLBACK_WAITING, FLAG_PENDING, FLAG_USD_ZERO, materialize } from "./items.js";
import { hashUnit } from "./prng.js";
import { HOUR_US, dayOfUs } from "./time.js";
import type { RequestItem } from "./types.js";

const SALT_FLAGS = 0x466c6167;
/** Pending records exist only among the most recent hours before the anchor. */
const PENDING_WINDOW_US = 6 * HOUR_US;
/** usd 0 and undelivered callbacks are transient, so only young records start that way. */
const UNSETTLED_WINDOW_US = 48 * HOUR_US;

export interface DayUsage {
  requests: number;
  hours: number;
  total_hours: number;
  tokensIn: number;
  tokensOut: number;
  ttsCharacters: number;
  ttsRequests: number;
}

export class ProjectStore {
  /** Listing order: position -> created (µs), descending. */
  private created: Float64Array;
  /** Listing order: position -> serial. */
  private serials: Uint32Array;
  /** By serial. */
  private createdBySerial: Float64Array;
  private flags: Uint8Array;
  private count: number;
  private readonly revisions = new Map<number, number>();
  /** Schema drift injected by tests: the item as served is this function of the generated one. */
  private readonly drift = new Map<number, (item: RequestItem) => RequestItem>();
  private readonly usageCache = new Map<string, DayUsage>();

  constructor(readonly spec: ProjectSpec, anchorUs: number, days: number, perDay: number) {
    const asc = generateTimeline(spec, anchorUs, days, perDay);
    const n = asc.length;
    this.count = n;
    this.createdBySerial = asc;
    this.flags = new Uint8Array(Math.max(16, n));
    this.created = new Float64Array(n);
    this.serials = new Uint32Array(n);
    for (let serial = 0; serial < n; serial++) {
      const t = asc[serial]!;
      this.flags[serial] = initialFlags(spec, serial, anchorUs - t);
      this.created[n - 1 - serial] = t;
      this.serials[n - 1 - serial] = serial;
    }
    this.orderTies();
  }

  get size(): number {
    return this.count;
  }

  serialAt(position: number): number {
    return this.serials[position]!;
  }

  /** created (µs) of the record at a listing position. */
  createdAt(position: number): number {
    return this.created[position]!;
  }

  createdOf(serial: number): number {
    return this.createdBySerial[serial]!;
  }

  flagsOf(serial: number): number {
    return this.flags[serial]!;
  }

  setFlags(serial: number, flags: number): void {
    this.flags[serial] = flags;
    this.usageCache.delete(dayOfUs(this.createdOf(serial)));
  }

  addRevision(serial: number): void {
    this.revisions.set(serial, (this.revisions.get(serial) ?? 0) + 1);
  }

  item(serial: number): RequestItem {
    const item = materialize(this.spec, serial, this.createdOf(serial), this.flagsOf(serial), this.revisions.get(serial) ?? 0);
    const drift = this.drift.get(serial);
    return drift ? drift(item) : item;
  }

  setDrift(serial: number, fn: (item: RequestItem) => RequestItem): void {
    this.drift.set(serial, fn);
    this.usageCache.delete(dayOfUs(this.createdOf(serial)));
  }

  /** Positions [from, to) of records with lo <= created <= hi (µs, inclusive). */
  range(lo: number, hi: number): [number, number] {
    if (lo > hi) return [0, 0];
    return [this.firstAtOrBelow(hi), this.firstAtOrBelow(lo - 1)];
  }

  /** First position whose created <= t (the array descends). */
  private firstAtOrBelow(t: number): number {
    let a = 0;
    let b = this.count;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (this.created[mid]! <= t) b = mid;
      else a = mid + 1;
    }
    return a;
  }

  itemsInRange(from: number, to: number): RequestItem[] {
    const out: RequestItem[] = [];
    for (let p = from; p < to; p++) out.push(this.item(this.serials[p]!));
    return out;
  }

  serialOfId(requestId: string): number | undefined {
    return serialOfRequestId(this.spec, requestId, this.count);
  }

  /** Adds records at the given instants (any order); returns their serials. O(n + k log k). */
  insert(instants: number[], flagsFor: (serial: number) => number): number[] {
    const k = instants.length;
    if (k === 0) return [];
    const first = this.count;
    const total = first + k;
    if (total > this.createdBySerial.length) {
      const cap = Math.max(total, Math.ceil(this.createdBySerial.length * 1.5), 16);
      this.createdBySerial = grow(this.createdBySerial, cap);
      this.flags = grow(this.flags, cap);
    }
    const added = instants.map((t, i) => ({ t, serial: first + i, id: requestIdOf(this.spec, first + i) }));
    for (const a of added) {
      this.createdBySerial[a.serial] = a.t;
      this.flags[a.serial] = flagsFor(a.serial);
      this.usageCache.delete(dayOfUs(a.t));
    }
    added.sort((x, y) => y.t - x.t || (x.id < y.id ? -1 : 1));
    // Merge two lists already in listing order.
    const created = new Float64Array(total);
    const serials = new Uint32Array(total);
    let i = 0;
    let j = 0;
    for (let p = 0; p < total; p++) {
      const next = added[j];
      const takeNew = next !== undefined && (i >= first || next.t > this.created[i]! || (next.t === this.created[i]! && next.id < requestIdOf(this.spec, this.serials[i]!)));
      if (takeNew) {
        created[p] = next.t;
        serials[p] = next.serial;
        j++;
      } else {
        created[p] = this.created[i]!;
        serials[p] = this.serials[i]!;
        i++;
      }
    }
    this.created = created;
    this.serials = serials;
    this.count = total;
    return added.map((a) => a.serial).sort((a, b) => a - b);
  }

  /** Usage of one UTC day over every record (cached until a record of that day changes). */
  dayUsage(day: string, dayStartUs: number, dayEndUs: number): DayUsage {
    const cached = this.usageCache.get(day);
    if (cached) return { ...cached };
    const u: DayUsage = { requests: 0, hours: 0, total_hours: 0, tokensIn: 0, tokensOut: 0, ttsCharacters: 0, ttsRequests: 0 };
    const [from, to] = this.range(dayStartUs, dayEndUs);
    let duration = 0;
    let totalAudio = 0;
    for (let p = from; p < to; p++) {
      const item = this.item(this.serials[p]!);
      u.requests++;
      const response = item.response as Record<string, unknown> | null;
      const details = response?.details as Record<string, unknown> | undefined;
      duration += typeof details?.duration === "number" ? details.duration : 0;
      totalAudio += typeof details?.total_audio === "number" ? details.total_audio : 0;
      for (const t of (response?.token_details as { input: number; output: number }[] | undefined) ?? []) {
        u.tokensIn += t.input;
        u.tokensOut += t.output;
      }
      const tts = response?.tts_details as { speech_segments: { characters: number }[] } | undefined;
      if (tts) {
        u.ttsRequests++;
        for (const s of tts.speech_segments) u.ttsCharacters += s.characters;
      }
    }
    u.hours = duration / 3600;
    u.total_hours = totalAudio / 3600;
    this.usageCache.set(day, u);
    return { ...u };
  }

  /** Equal `created` values sort by request_id ascending; they are rare (on-the-hour records). */
  private orderTies(): void {
    const to = this.count;
    let p = 0;
    while (p < to) {
      let q = p + 1;
      while (q < to && this.created[q] === this.created[p]) q++;
      if (q - p > 1) {
        const run = Array.from(this.serials.subarray(p, q), (s) => ({ s, id: requestIdOf(this.spec, s) }));
        run.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
        run.forEach((r, i) => (this.serials[p + i] = r.s));
      }
      p = q;
    }
  }
}

/** State bits a record starts with: a pure function of its identity and its age at the anchor. */
export function initialFlags(spec: ProjectSpec, serial: number, ageUs: number): number {
  const u = hashUnit(spec.seed, SALT_FLAGS, serial);
  let f = 0;
  if (ageUs <= PENDING_WINDOW_US && u < 0.05) f |= FLAG_PENDING;
  if (ageUs > UNSETTLED_WINDOW_US) return f;
  // Disjoint slices of the same draw: usd 0 for ~3%, callback not yet delivered for ~30%.
  if (u >= 0.05 && u < 0.08) f |= FLAG_USD_ZERO;
  if (u >= 0.5 && u < 0.8) f |= FLAG_CALLBACK_WAITING;
  return f;
}

function grow<T extends Float64Array | Uint8Array>(a: T, cap: number): T {
  const next = new (a.constructor as new (n: number) => T)(cap);
  next.set(a);
  return next;
}
