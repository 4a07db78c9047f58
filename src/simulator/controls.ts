/**
 * The knobs tests and demos turn to make the account behave like production: records that complete
 * late, change after they were read, appear in the past, or appear while a client is paging.
 */
import { requestIdOf } from "./data.js";
import { FLAG_CALLBACK_WAITING, FLAG_LOST, FLAG_PENDING, FLAG_USD_ZERO } from "./items.js";
import { hashUnit } from "./prng.js";
import type { SimulatorState } from "./state.js";
import { initialFlags, type ProjectStore } from "./store.js";
import { HOUR_US, parseDay } from "./time.js";
import { DRIFT_KINDS, type RequestItem, type SimulatorControl } from "./types.js";
import { DRIFTS } from "./drift.js";

const SALT_LOST = 0x4c6f7374;

export function createControl(state: SimulatorState): SimulatorControl {
  return {
    drift(count, opts = {}) {
      const store = state.targets(opts.projectId)[0];
      if (!store || count <= 0) return [];
      const kinds = opts.kinds ?? [...DRIFT_KINDS];
      const [lo, hi] = state.visibleBounds();
      // Settled records only (older than olderThanHours), so a test can expect them archived.
      const newest = hi - (opts.olderThanHours ?? 24) * HOUR_US;
      const oldest = opts.withinHours === undefined ? lo : Math.max(lo, hi - opts.withinHours * HOUR_US);
      const [from, to] = store.range(oldest, newest);
      const out: Array<{ request_id: string; kind: (typeof kinds)[number] }> = [];
      for (let i = 0; i < count && to > from; i++) {
        const position = from + Math.floor(state.controlRng() * (to - from));
        const serial = store.serialAt(position);
        const kind = kinds[i % kinds.length]!;
        out.push({ request_id: requestIdOf(store.spec, serial), kind });
        store.setDrift(serial, DRIFTS[kind]);
      }
      return out;
    },

    completePending(opts = {}) {
      const done: string[] = [];
      for (const store of state.targets(opts.projectId)) {
        for (let serial = 0; serial < store.size; serial++) {
          const f = store.flagsOf(serial);
          if ((f & FLAG_PENDING) === 0 || (f & FLAG_LOST) !== 0) continue;
          // Lost is a property of the record, so the same ~10% stay lost whenever this is called.
          if (opts.leaveLost && hashUnit(store.spec.seed, SALT_LOST, serial) < 0.1) {
            store.setFlags(serial, f | FLAG_LOST);
            continue;
          }
          store.setFlags(serial, f & ~FLAG_PENDING);
          done.push(requestIdOf(store.spec, serial));
        }
      }
      return done;
    },

    mutate(count, opts = {}) {
      const store = state.targets(opts.projectId)[0];
      if (!store || count <= 0) return [];
      const changed: string[] = [];
      for (const serial of pickCompleted(state, store, count, opts.withinHours)) {
        const item = store.item(serial);
        const f = store.flagsOf(serial);
        const details = (item.response as { details: { usd: number } }).details;
        const cb = item.callback as { attempts?: number } | null | string;
        if ((f & FLAG_USD_ZERO) !== 0 && details.usd === 0) store.setFlags(serial, f & ~FLAG_USD_ZERO);
        else if ((f & FLAG_CALLBACK_WAITING) !== 0 && typeof cb === "object" && cb?.attempts === 0) store.setFlags(serial, f & ~FLAG_CALLBACK_WAITING);
        else store.addRevision(serial);
        changed.push(item.request_id);
      }
      return changed;
    },

    addLate(count, opts = {}) {
      const store = state.targets(opts.projectId)[0];
      if (!store || count <= 0) return [];
      const now = state.nowUs();
      const widthUs = Math.max(1, Math.floor((opts.withinHours ?? 48) * HOUR_US));
      const instants = Array.from({ length: count }, () => now - 1 - Math.floor(state.controlRng() * widthUs));
      return insertItems(store, instants, now);
    },

    insertDuringPaging({ projectId, count }) {
      state.store(projectId);
      state.pagingInserts.set(projectId, count);
    },

    setFaultRate(rate, kinds) {
      state.faults.setRate(rate, kinds);
    },

    queueFaults(kinds) {
      state.faults.enqueue(kinds);
    },

    revokeKey() {
      state.revoked = true;
    },

    restoreKey() {
      state.revoked = false;
    },

    forbidProject(projectId) {
      state.store(projectId);
      state.forbidden.add(projectId);
    },

    overReportUsage(projectId, day, extraRequests) {
      state.store(projectId);
      if (parseDay(day) === null) throw new RangeError(`day must be YYYY-MM-DD, got ${day}`);
      const key = `${projectId} ${day}`;
      state.overReport.set(key, (state.overReport.get(key) ?? 0) + extraRequests);
    },

    setLatency(ms) {
      if (!(ms >= 0)) throw new RangeError(`latency must be >= 0, got ${ms}`);
      state.latencyMs = ms;
    },
  };
}

/** Adds already-completed records at the given instants; returns them newest first. */
export function insertItems(store: ProjectStore, instants: number[], nowUs: number): RequestItem[] {
  const serials = store.insert(instants, (serial) => initialFlags(store.spec, serial, nowUs - store.createdOf(serial)) & ~FLAG_PENDING);
  return serials
    .map((s) => store.item(s))
    .sort((a, b) => (a.created === b.created ? (a.request_id < b.request_id ? -1 : 1) : a.created < b.created ? 1 : -1));
}

/**
 * Up to `count` distinct visible records with a completed, successful response, preferring the last
 * 48 hours (where real records still change and an archiver re-scans); the whole visible range is
 * the fallback when the recent hours have too few.
 */
function pickCompleted(state: SimulatorState, store: ProjectStore, count: number, withinHours?: number): number[] {
  const [lo, hi] = state.visibleBounds();
  const picked: number[] = [];
  const ranges = withinHours === undefined ? [Math.max(lo, hi - 48 * HOUR_US), lo] : [Math.max(lo, hi - withinHours * HOUR_US)];
  for (const from of ranges) {
    const [a, b] = store.range(from, hi);
    const positions = Array.from({ length: b - a }, (_, i) => a + i);
    for (let i = 0; i < positions.length && picked.length < count; i++) {
      // Partial Fisher-Yates: O(picked) draws, uniform without replacement.
      const j = i + Math.floor(state.controlRng() * (positions.length - i));
      [positions[i], positions[j]] = [positions[j]!, positions[i]!];
      const serial = store.serialAt(positions[i]!);
      if (picked.includes(serial)) continue;
      const response = store.item(serial).response as { details?: unknown } | null;
      if (response?.details) picked.push(serial);
    }
    if (picked.length >= count) break;
  }
  return picked;
}
