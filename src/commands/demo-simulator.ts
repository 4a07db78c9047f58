import { Worker } from "node:worker_threads";
import { systemClock, type Clock } from "../clock.js";
import { serveSimulator, type FaultKind, type SimProject, type Simulator } from "../simulator/index.js";

/** What the demo asks of its simulated account, wherever it runs. */
export interface DemoSimulatorSpec {
  apiKey: string;
  seed: number;
  projects: number;
  days: number;
  perDay: number;
  faultRate: number;
  faultKinds: FaultKind[];
}

export interface DemoSimulatorFacts {
  url: string;
  projects: SimProject[];
  /** Records the simulator holds, and those Deepgram's 90-day listing shows. */
  records: number;
  visible: number;
}

export interface DemoSimulatorStats {
  requestsServed: number;
  faultsInjected: number;
}

export interface DemoSimulator extends DemoSimulatorFacts {
  stats(): Promise<DemoSimulatorStats>;
  stop(): Promise<void>;
}

/** Messages between the demo and its simulator thread (see demo-simulator-worker.ts). */
export type ToSimulatorThread = { type: "stats" } | { type: "stop" };
export type FromSimulatorThread =
  | ({ type: "ready" } & DemoSimulatorFacts)
  | ({ type: "stats" } & DemoSimulatorStats)
  | { type: "stopped" }
  | { type: "error"; message: string };

export function describeSimulator(sim: Simulator): DemoSimulatorFacts {
  const projects = sim.projects();
  return {
    url: sim.url,
    projects,
    records: projects.reduce((a, p) => a + sim.recordCount(p.project_id), 0),
    visible: projects.reduce((a, p) => a + sim.recordCount(p.project_id, { visible: true }), 0),
  };
}

export function statsOf(sim: Simulator): DemoSimulatorStats {
  const s = sim.stats();
  return { requestsServed: s.requestsServed, faultsInjected: Object.values(s.faultsInjected).reduce((a, b) => a + b, 0) };
}

/**
 * Starts the simulated Deepgram API on a free loopback port. In a worker thread by default, so
 * serving pages (building and serializing items) uses the machine's second core while the
 * archiver and its embedded database keep the first; inline when the caller's clock must drive
 * the simulator (tests).
 */
export async function startDemoSimulator(spec: DemoSimulatorSpec, where: { thread: true; anchor: Date } | { thread: false; clock: Clock }): Promise<DemoSimulator> {
  // Run from source (tsx), a worker could not load TypeScript on Node 20: the loader's hooks are
  // not inherited by threads there. The built package always gets the thread.
  const fromSource = import.meta.url.endsWith(".ts");
  if (!where.thread || fromSource) {
    const options = where.thread ? { clock: systemClock, anchor: where.anchor } : { clock: where.clock };
    const sim = await serveSimulator({ ...options, ...spec, host: "127.0.0.1", port: 0 });
    return { ...describeSimulator(sim), stats: async () => statsOf(sim), stop: () => sim.stop() };
  }
  const entry = new URL("./demo-simulator-worker.js", import.meta.url);
  const worker = new Worker(entry, { workerData: { spec, anchor: where.anchor.toISOString() } });
  const next = <T extends FromSimulatorThread["type"]>(type: T) =>
    new Promise<Extract<FromSimulatorThread, { type: T }>>((resolve, reject) => {
      const onMessage = (m: FromSimulatorThread) => {
        if (m.type === type) done(() => resolve(m as Extract<FromSimulatorThread, { type: T }>));
        else if (m.type === "error") done(() => reject(new Error(`the demo's simulator failed: ${m.message}`)));
      };
      const onError = (err: Error) => done(() => reject(err));
      const onExit = (code: number) => done(() => reject(new Error(`the demo's simulator thread exited (${code})`)));
      const done = (fn: () => void) => {
        worker.off("message", onMessage).off("error", onError).off("exit", onExit);
        fn();
      };
      worker.on("message", onMessage).on("error", onError).on("exit", onExit);
    });
  const send = (m: ToSimulatorThread) => worker.postMessage(m);
  let ready: Extract<FromSimulatorThread, { type: "ready" }>;
  try {
    ready = await next("ready");
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  let stopped = false;
  return {
    url: ready.url,
    projects: ready.projects,
    records: ready.records,
    visible: ready.visible,
    async stats() {
      const answer = next("stats");
      send({ type: "stats" });
      const { requestsServed, faultsInjected } = await answer;
      return { requestsServed, faultsInjected };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const answer = next("stopped").catch(() => undefined);
      send({ type: "stop" });
      await Promise.race([answer, new Promise((r) => setTimeout(r, 5_000).unref())]);
      await worker.terminate();
    },
  };
}
