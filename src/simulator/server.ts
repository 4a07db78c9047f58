/**
 * The socket side: a node:http server that answers with `handleApi`, unless the fault plan says
 * to refuse, stall, cut or drop the request. Timers and sockets are tracked so `stop()` leaves
 * nothing behind, and a client that gives up mid-answer never crashes the server.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { handleApi, type ApiResponse } from "./api.js";
import type { SimulatorState } from "./state.js";
import type { FaultKind } from "./types.js";

const TOO_MANY = { err_code: "TOO_MANY_REQUESTS", err_msg: "Too many requests. Please try again later" };

export class SimulatorServer {
  private server: Server | null = null;
  private baseUrl: string | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly state: SimulatorState) {}

  get url(): string {
    if (!this.baseUrl) throw new Error("simulator is not started; call start() first");
    return this.baseUrl;
  }

  async start(opts: { port?: number; host?: string } = {}): Promise<string> {
    if (this.baseUrl) return this.baseUrl;
    const host = opts.host ?? "127.0.0.1";
    const server = createServer((req, res) => this.onRequest(req, res));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    // A client resetting mid-request is routine here (timeouts, aborted slow answers).
    server.on("clientError", (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("simulator server has no TCP address");
    this.server = server;
    this.baseUrl = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.baseUrl = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.state.requestsServed++;
    let gone = false;
    res.on("close", () => (gone = true));
    res.on("error", () => (gone = true));
    req.on("error", () => (gone = true));
    const requestId = randomUUID();
    const fault = this.state.faults.next();
    const respond = (truncate: boolean): void => {
      const answer = handleApi(this.state, req.method ?? "GET", req.url ?? "/", req.headers.authorization, requestId);
      const send = (): void => {
        if (!gone) this.send(res, answer, requestId, truncate);
      };
      if (answer.delayMs) this.after(answer.delayMs, send);
      else send();
    };
    switch (fault) {
      case null:
        return respond(false);
      case "slow":
        // The answer is computed after the stall, from the state at that moment.
        return this.after(this.state.slowMs, () => (gone ? undefined : respond(false)));
      case "truncated":
        return respond(true);
      case "reset":
        req.socket.destroy();
        return;
      default:
        return this.sendFault(res, fault, requestId);
    }
  }

  private send(res: ServerResponse, answer: ApiResponse, requestId: string, truncate: boolean): void {
    const body = Buffer.from(answer.body, "utf8");
    res.writeHead(answer.status, {
      "content-type": answer.contentType,
      "content-length": String(body.length),
      "dg-request-id": requestId,
    });
    if (truncate) {
      // Promise the whole body, deliver half, then drop the connection: a cut-off transfer.
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      return;
    }
    res.end(body);
    if (answer.pageFetch) {
      this.state.pagesServed++;
      this.state.pageFetches.push(answer.pageFetch);
    }
  }

  private sendFault(res: ServerResponse, fault: Exclude<FaultKind, "slow" | "truncated" | "reset">, requestId: string): void {
    const headers: Record<string, string> = { "dg-request-id": requestId };
    let status: number;
    let body: string;
    let type = "application/json";
    switch (fault) {
      case "429-retry-after-seconds":
        [status, body, headers["retry-after"]] = [429, JSON.stringify(TOO_MANY), "1"];
        break;
      case "429-retry-after-date": {
        // An HTTP-date 1-2 s after the simulator's own clock (second precision rounds it down).
        const at = Math.floor((this.state.clock.now().getTime() + 2000) / 1000) * 1000;
        [status, body, headers["retry-after"]] = [429, JSON.stringify(TOO_MANY), new Date(at).toUTCString()];
        break;
      }
      case "429-bare":
        [status, body] = [429, JSON.stringify(TOO_MANY)];
        break;
      case "500":
        [status, body] = [500, JSON.stringify({ err_code: "INTERNAL_SERVER_ERROR", err_msg: "An internal server error occurred.", request_id: requestId })];
        break;
      case "502":
        [status, body, type] = [502, "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>", "text/html"];
        break;
      case "503":
        // Deepgram's own 503 sample spells the key `error_code`.
        [status, body] = [503, JSON.stringify({ error_code: "SERVICE_UNAVAILABLE", err_msg: "The service is temporarily unavailable. Please try again later.", request_id: requestId })];
        break;
    }
    const bytes = Buffer.from(body, "utf8");
    res.writeHead(status, { ...headers, "content-type": type, "content-length": String(bytes.length) });
    res.end(bytes);
  }
}
