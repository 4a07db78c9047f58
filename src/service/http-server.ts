import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logger.js";

export interface HttpReply {
  status: number;
  contentType: string;
  body: string;
}

/** The routes; each returns what to send. Errors become a bare 500 (details go to the log only). */
export interface HttpRoutes {
  healthz(): HttpReply;
  readyz(): Promise<HttpReply>;
  metrics(): Promise<HttpReply>;
  statusPage(): Promise<HttpReply>;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  /** When set, `/` and `/metrics` need `Authorization: Bearer <token>` (or Basic with it as the password). */
  token: string | null;
  logger: Logger;
  routes: HttpRoutes;
}

export interface HttpServer {
  /** Listens; resolves with the base URL (port 0 picks a free one). */
  listen(): Promise<string>;
  /** Stops accepting, drops idle and open connections; idempotent. */
  close(): Promise<void>;
}

const REALM = "deepgram-archiver";

/**
 * Health for orchestrators, metrics for Prometheus and a status page for people, on one port.
 * /healthz and /readyz are always open (probes carry no credentials); the others take the token.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const log = options.logger.child({ component: "http" });
  const tokenDigest = options.token === null ? null : digest(options.token);
  let server: Server | null = null;
  let closing: Promise<void> | null = null;

  const authorized = (req: IncomingMessage): boolean => {
    if (tokenDigest === null) return true;
    const header = req.headers.authorization ?? "";
    const m = /^(Bearer|Basic)\s+(\S+)$/i.exec(header.trim());
    if (!m) return false;
    let presented = m[2]!;
    if (m[1]!.toLowerCase() === "basic") {
      // Basic lets a person open the page in a browser: any user name, the token as the password.
      const decoded = Buffer.from(presented, "base64").toString("utf8");
      presented = decoded.slice(decoded.indexOf(":") + 1);
    }
    // Equal-length digests compared in constant time: neither content nor length leaks by timing.
    return timingSafeEqual(digest(presented), tokenDigest);
  };

  const send = (res: ServerResponse, reply: HttpReply, head: boolean): void => {
    const body = Buffer.from(reply.body, "utf8");
    res.writeHead(reply.status, {
      "content-type": reply.contentType,
      "content-length": String(body.length),
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    });
    res.end(head ? undefined : body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const head = method === "HEAD";
    if (method !== "GET" && !head) {
      res.setHeader("allow", "GET, HEAD");
      return send(res, text(405, "method not allowed\n"), false);
    }
    switch (path) {
      case "/healthz":
        return send(res, options.routes.healthz(), head);
      case "/readyz":
        return send(res, await options.routes.readyz(), head);
      case "/metrics":
      case "/": {
        if (!authorized(req)) {
          res.setHeader("www-authenticate", [`Basic realm="${REALM}", charset="UTF-8"`, `Bearer realm="${REALM}"`]);
          return send(res, text(401, "unauthorized: send Authorization: Bearer <ARCHIVER_HTTP_TOKEN>\n"), head);
        }
        return send(res, path === "/" ? await options.routes.statusPage() : await options.routes.metrics(), head);
      }
      default:
        return send(res, text(404, "not found: try /, /healthz, /readyz or /metrics\n"), head);
    }
  };

  return {
    async listen() {
      if (server) return urlOf(server, options.host);
      const s = createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          log.error({ err: (err as Error).message, url: req.url }, "http request failed");
          if (!res.headersSent) send(res, text(500, "internal error; see the archiver's log\n"), false);
          else res.destroy();
        });
      });
      s.headersTimeout = 10_000;
      s.requestTimeout = 30_000;
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(options.port, options.host, () => {
          s.off("error", reject);
          resolve();
        });
      }).catch((err: NodeJS.ErrnoException) => {
        const why = err.code === "EADDRINUSE" ? "the port is in use" : err.code === "EADDRNOTAVAIL" ? "no such address on this machine" : err.message;
        throw new Error(`Cannot listen on ${options.host}:${options.port} (${why}). Set ARCHIVER_HTTP_HOST / ARCHIVER_HTTP_PORT.`, { cause: err });
      });
      s.on("error", (err) => log.error({ err: err.message }, "http server error"));
      server = s;
      return urlOf(s, options.host);
    },
    close() {
      closing ??= (async () => {
        const s = server;
        if (!s) return;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

function text(status: number, body: string): HttpReply {
  return { status, contentType: "text/plain; charset=utf-8", body };
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

function urlOf(s: Server, host: string): string {
  const { port } = s.address() as AddressInfo;
  const shown = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
