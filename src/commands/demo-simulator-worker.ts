/**
 * The demo's simulator thread: an entry module, run only as a worker by startDemoSimulator
 * (demo-simulator.ts). It serves the simulated Deepgram API and answers the demo's questions.
 */
import { parentPort, workerData } from "node:worker_threads";
import { systemClock } from "../clock.js";
import { serveSimulator } from "../simulator/index.js";
import { describeSimulator, statsOf, type DemoSimulatorSpec, type FromSimulatorThread, type ToSimulatorThread } from "./demo-simulator.js";

const port = parentPort;
if (port) {
  const { spec, anchor } = workerData as { spec: DemoSimulatorSpec; anchor: string };
  const post = (m: FromSimulatorThread) => port.postMessage(m);
  serveSimulator({ clock: systemClock, anchor: new Date(anchor), ...spec, host: "127.0.0.1", port: 0 }).then(
    (sim) => {
      port.on("message", (m: ToSimulatorThread) => {
        if (m.type === "stats") post({ type: "stats", ...statsOf(sim) });
        else if (m.type === "stop") void sim.stop().finally(() => post({ type: "stopped" }));
      });
      post({ type: "ready", ...describeSimulator(sim) });
    },
    (err: unknown) => post({ type: "error", message: (err as Error).message }),
  );
}
