/** Starts bench/page-server.ts as a child process and talks to it over the IPC channel. */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface PageServerOptions {
  mode: "cached" | "simulator";
  apiKey: string;
  records: number;
  days: number;
  projects: number;
  seed: number;
  latencyMs: number;
}

export interface ServerStats {
  pagesServed: number;
  requestsServed: number;
  cpuMs: number;
  rssMb: number;
}

export interface PageServer {
  url: string;
  /** Items listed right now (inside the 90-day horizon). */
  visible: number;
  setLatency(ms: number): Promise<void>;
  /** Writes every visible item as COPY text (request_id, project_id, created, raw); returns the row count. */
  dump(file: string): Promise<number>;
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

export async function startPageServer(options: PageServerOptions): Promise<PageServer> {
  const script = fileURLToPath(new URL("../page-server.ts", import.meta.url));
  // --max-old-space-size: the cached mode keeps every item's JSON (about 1 GB at 1M records).
  const child: ChildProcess = fork(script, [], { execArgv: ["--import", "tsx", "--max-old-space-size=4096"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiters = new Map<string, (m: Record<string, unknown>) => void>();
  let failure: Error | null = null;
  child.on("message", (m: Record<string, unknown>) => {
    if (m.type === "error") failure = new Error(`page server: ${String(m.message)}`);
    const w = waiters.get(String(m.type)) ?? waiters.get("*");
    waiters.delete(String(m.type));
    w?.(m);
  });
  child.on("exit", (code) => {
    if (code) failure ??= new Error(`page server exited with ${code}`);
    for (const w of waiters.values()) w({ type: "exit" });
  });
  const ask = (message: Record<string, unknown>, answer: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      waiters.set(answer, (m) => (failure ? reject(failure) : resolve(m)));
      child.send(message);
    });
  const ready = await ask({ type: "start", ...options }, "ready");
  return {
    url: String(ready.url),
    visible: Number(ready.visible),
    setLatency: async (ms) => void (await ask({ type: "latency", ms }, "latency")),
    dump: async (file) => Number((await ask({ type: "dump", file }, "dump")).rows),
    stats: async () => (await ask({ type: "stats" }, "stats")) as unknown as ServerStats,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
