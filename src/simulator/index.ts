/**
 * A faithful, deterministic fake of Deepgram's management API over a real HTTP socket, for the
 * test suite, `deepgram-archiver simulate`, the demo and benchmarks. Behaviour follows
 * ../shared/deepgram-api.md; where the docs are silent the choice is documented here and in the
 * files that implement it.
 */
import { usageOfDay } from "./api.js";
import { createControl } from "./controls.js";
import { SimulatorServer } from "./server.js";
import { SimulatorState } from "./state.js";
import type { RequestItem, Simulator, SimulatorOptions, SimulatorStats } from "./types.js";

export { FAULT_KINDS } from "./types.js";
export type {
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
