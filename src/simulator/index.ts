/**
 * A faithful, deterministic fake of Deepgram's management API over a real HTTP socket, for the
 * test suite, `deepgram-archiver simulate`, the demo and benchmarks. Behaviour follows
 * ../shared/deepgram-api.md; where the docs are silent, these are the choices (clients must not
 * rely on more than the real API promises, but tests may rely on these):
 *
 * - Listing order: created descending; equal `created` by request_id ascending. Pages are 0-based.
 * - start/end are both inclusive instants with µs precision. `YYYY-MM-DDTHH:MM:SS` means exactly
 *   that instant (not the whole second); a date-only end means the day's last microsecond. So a
 *   record at exactly 11:00:00.000000Z is in both [10:00, 11:00] and [11:00, 12:00]. With
 *   `endCoversSecond`, an end without a fraction covers its whole second instead.
 * - Query strings are form-decoded: an unencoded `+` in an offset becomes a space and is a 400.
 * - Only start, end, limit, page are honoured; other filters are ignored. limit/page must be
 *   non-negative integers (else 400); limit is clamped to [1, maxLimit] and echoed.
 * - The horizon [now - horizonDays, now] (clock) clamps every listing and single GET.
 * - /usage takes dates only, end inclusive; default end = today (UTC, clock), default start = the
 *   day of the oldest record. It counts every record ever generated, pending and failed included.
 */
import { usageOfDay } from "./api.js";
import { createControl } from "./controls.js";
import { SimulatorServer } from "./server.js";
import { SimulatorState } from "./state.js";
import type { RequestItem, Simulator, SimulatorOptions, SimulatorStats } from "./types.js";

export { DRIFT_KINDS, FAULT_KINDS } from "./types.js";
export type {
  DriftKind,
  FaultKind,
  PageFetch,
  RequestItem,
  SimKey,
  SimProject,
  Simulator,
  SimulatorControl,
  SimulatorOptions,
  SimulatorStats,
  UsageTotals,
} from "./types.js";

export function createSimulator(options: SimulatorOptions): Simulator {
  const state = new SimulatorState(options);
  const server = new SimulatorServer(state);
  const control = createControl(state);
  const all = (projectId: string): RequestItem[] => {
    const store = state.store(projectId);
    return store.itemsInRange(0, store.size);
  };
  return {
    start: (opts) => server.start(opts),
    stop: () => server.stop(),
    get url() {
      return server.url;
    },
    projects: () => state.stores.map((s) => ({ ...s.spec.project })),
    keys: (projectId) => state.store(projectId).spec.keys.map((k) => ({ ...k, scopes: [...k.scopes], tags: [...k.tags], member: { ...k.member } })),
    truth: all,
    visibleTruth(projectId) {
      const store = state.store(projectId);
      const [lo, hi] = state.visibleBounds();
      const [from, to] = store.range(lo, hi);
      return store.itemsInRange(from, to);
    },
    recordCount(projectId, opts = {}) {
      const store = state.store(projectId);
      if (!opts.visible) return store.size;
      const [from, to] = store.range(...state.visibleBounds());
      return to - from;
    },
    usageDay(projectId, day) {
      const u = usageOfDay(state, state.store(projectId), day, false);
      return { requests: u.requests, hours: u.hours, total_hours: u.total_hours };
    },
    control,
    stats(): SimulatorStats {
      return {
        requestsServed: state.requestsServed,
        faultsInjected: { ...state.faults.injected },
        pagesServed: state.pagesServed,
        pageFetches: state.pageFetches.map((f) => ({ ...f })),
      };
    },
  };
}

/** Create and start in one step: what the `simulate` command runs. */
export async function serveSimulator(opts: SimulatorOptions & { port?: number; host?: string }): Promise<Simulator> {
  const { port, host, ...options } = opts;
  const sim = createSimulator(options);
  await sim.start({ ...(port !== undefined ? { port } : {}), ...(host !== undefined ? { host } : {}) });
  return sim;
}
