/**
 * The Deepgram side of the benchmark, run as a child process of bench/run.ts (IPC channel) so its
 * CPU is not the archiver's. Two modes:
 *
 * - `simulator`: the project's simulator as it is (each page materializes and stringifies its
 *   items: 10-20 µs per item, which on a 2-core machine competes with the archiver and Postgres).
 * - `cached` (default): the same simulator state, but /requests pages are joined from item JSON
 *   built once at start, so serving costs about what a remote API costs this machine: nothing
 *   much. Same data, same bounds (inclusive µs start/end, 90-day horizon, limit clamp, page order);
 *   every other route is the simulator's own handler.
 *
 * Messages in: {type: "latency", ms}, {type: "dump", file} (TSV of every visible item for COPY),
 * {type: "stats"}. Messages out: {type: "ready", url, visible}, and one answer per message.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { systemClock } from "../src/clock.js";
import { handleApi, usageOfDay } from "../src/simulator/api.js";
import { SimulatorState } from "../src/simulator/state.js";
import { DAY_US, dayOfUs, parseBound } from "../src/simulator/time.js";
import type { ProjectStore } from "../src/simulator/store.js";
import type { PageServerOptions } from "./lib/server.js";

/** The parent's options, as bench/lib/server.ts sends them. */
interface Start extends PageServerOptions {
  type: "start";
}

type Message = Start | { type: "latency"; ms: number } | { type: "dump"; file: string } | { type: "stats" };

const send = (m: unknown): void => void process.send!(m);

let state: SimulatorState;
let mode: Start["mode"];
/**
 * projectId -> every item's JSON in listing order, as UTF-8 in one buffer outside the JS heap (a
 * few hundred MB of strings on the heap made the server's garbage collection cost as much CPU as
 * the archiver's parsing), with item i at bytes [offsets[i], offsets[i + 1]).
 */
const cache = new Map<string, { bytes: Buffer; offsets: Float64Array }>();
let pagesServed = 0;
let requestsServed = 0;

// The benchmark owns this process: when it goes away (the IPC channel closes), so does the server.
process.on("disconnect", () => process.exit(0));
process.on("message", (m: Message) => {
  handle(m).catch((err: Error) => send({ type: "error", message: err.stack ?? err.message }));
});

async function handle(m: Message): Promise<void> {
  switch (m.type) {
    case "start":
      return start(m);
    case "latency":
      state.latencyMs = m.ms;
      return send({ type: "latency", ms: m.ms });
    case "dump":
      return send({ type: "dump", rows: await dump(m.file) });
    case "stats": {
      const cpu = process.cpuUsage();
      return send({ type: "stats", pagesServed, requestsServed, cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.memoryUsage().rss / 2 ** 20 });
    }
  }
}

async function start(m: Start): Promise<void> {
  mode = m.mode;
  state = new SimulatorState({
    clock: systemClock,
    apiKey: m.apiKey,
    seed: m.seed,
    projects: m.projects,
    days: m.days,
    perDay: m.records / m.days / m.projects,
    faultRate: 0,
    latencyMs: m.latencyMs,
  });
  if (mode === "cached") {
    // /usage sums every item of a day; computing that once now keeps the pass's usage step from
    // charging the simulator's item building to the benchmark's machine.
    const [lo, hi] = state.visibleBounds();
    for (const store of state.stores) {
      for (let d = Math.floor(lo / DAY_US) * DAY_US; d <= hi; d += DAY_US) usageOfDay(state, store, dayOfUs(d), false);
    }
    for (const store of state.stores) {
      const chunks: Buffer[] = [];
      const offsets = new Float64Array(store.size + 1);
      let at = 0;
      for (let p = 0; p < store.size; p++) {
        const b = Buffer.from(JSON.stringify(store.item(store.serialAt(p))), "utf8");
        chunks.push(b);
        offsets[p] = at;
        at += b.length;
      }
      offsets[store.size] = at;
      cache.set(store.spec.project.project_id, { bytes: Buffer.concat(chunks, at), offsets });
    }
  }
  const server = createServer((req, res) => onRequest(req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  let visible = 0;
  const [lo, hi] = state.visibleBounds();
  for (const store of state.stores) {
    const [from, to] = store.range(lo, hi);
    visible += to - from;
  }
  send({ type: "ready", url: `http://127.0.0.1:${address.port}`, visible });
}

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  requestsServed++;
  const url = req.url ?? "/";
  const requestId = randomUUID();
  const m = /^\/v1\/projects\/([^/?]+)\/requests\?(.*)$/.exec(url);
  const store = m && mode === "cached" ? state.find(decodeURIComponent(m[1]!)) : undefined;
  const authorized = req.headers.authorization === `Token ${state.apiKey}`;
  let status: number;
  let body: string | Buffer;
  let contentType = "application/json";
  let delayMs = 0;
  if (store && authorized) {
    const page = cachedPage(store, new URLSearchParams(m![2]));
    status = page ? 200 : 400;
    body = page ?? JSON.stringify({ err_code: "INVALID_QUERY_PARAMETER", err_msg: "Failed to deserialize query parameters", request_id: requestId });
    delayMs = state.latencyMs;
  } else {
    const answer = handleApi(state, req.method ?? "GET", url, req.headers.authorization, requestId);
    [status, body, contentType, delayMs] = [answer.status, answer.body, answer.contentType, answer.delayMs ?? 0];
  }
  if (status === 200 && url.includes("/requests?")) pagesServed++;
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const write = (): void => {
    res.writeHead(status, { "content-type": contentType, "content-length": String(bytes.length), "dg-request-id": requestId });
    res.end(bytes);
  };
  if (delayMs > 0) setTimeout(write, delayMs);
  else write();
}

/** The simulator's listRequests, answered from the item JSON cache. */
function cachedPage(store: ProjectStore, q: URLSearchParams): Buffer | null {
  const startRaw = q.get("start");
  const endRaw = q.get("end");
  const startUs = startRaw === null ? null : parseBound(startRaw, "start");
  const endUs = endRaw === null ? null : parseBound(endRaw, "end");
  if ((startRaw !== null && startUs === null) || (endRaw !== null && endUs === null)) return null;
  const count = (raw: string | null, fallback: number): number | null => (raw === null ? fallback : /^\d{1,15}$/.test(raw) ? Number(raw) : null);
  const limitIn = count(q.get("limit"), 10);
  const page = count(q.get("page"), 0);
  if (limitIn === null || page === null) return null;
  const limit = Math.min(state.maxLimit, Math.max(1, limitIn));
  const [horizonLo, now] = state.visibleBounds();
  const [from, to] = store.range(Math.max(horizonLo, startUs ?? -Infinity), Math.min(now, endUs ?? Infinity));
  const first = from + page * limit;
  const last = Math.min(to, first + limit);
  const head = Buffer.from(`{"page":${page},"limit":${limit},"requests":[`);
  if (first >= last) return Buffer.concat([head, Buffer.from("]}")]);
  const { bytes, offsets } = cache.get(store.spec.project.project_id)!;
  const out = Buffer.allocUnsafe(head.length + (offsets[last]! - offsets[first]!) + (last - first - 1) + 2);
  let at = head.copy(out, 0);
  for (let i = first; i < last; i++) {
    if (i > first) out[at++] = 0x2c; // ","
    at += bytes.copy(out, at, offsets[i]!, offsets[i + 1]!);
  }
  out.write("]}", at);
  return out;
}

/** Every item visible now, as COPY text format: request_id, project_id, created, raw. */
async function dump(file: string): Promise<number> {
  const out = createWriteStream(file);
  const [lo, hi] = state.visibleBounds();
  let rows = 0;
  for (const store of state.stores) {
    const projectId = store.spec.project.project_id;
    const [from, to] = store.range(lo, hi);
    for (let p = from; p < to; p++) {
      const item = store.item(store.serialAt(p));
      // COPY text format: backslash is the escape character; JSON text holds no raw tab or newline.
      const line = `${item.request_id}\t${projectId}\t${item.created}\t${JSON.stringify(item).replaceAll("\\", "\\\\")}\n`;
      if (!out.write(line)) await once(out, "drain");
      rows++;
    }
  }
  out.end();
  await once(out, "finish");
  return rows;
}
