import { silentLogger } from "../logger.js";
import { createGetJson } from "./http.js";
import { parseKeys, parseProjects, parseRequestItem, parseRequestsPage, parseRequestsPageBytes, parseUsage } from "./schemas.js";
import type { DeepgramClient, DeepgramClientOptions, RejectedItem, RequestsQuery, UsageQuery } from "./types.js";

/**
 * Deepgram documents `YYYY-MM-DDTHH:MM:SS+HH:MM` for /requests; the offset form is the one the spec
 * names (whether `Z` works is undocumented). Windows are whole seconds, and truncating a fraction
 * would silently narrow a window, so a fraction is a caller bug and fails loudly.
 */
export function formatRequestsDateTime(d: Date): string {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new RangeError("listRequests: start/end is an invalid Date");
  if (ms % 1000 !== 0) throw new RangeError(`listRequests: ${d.toISOString()} is not a whole second; windows must be whole seconds`);
  return `${d.toISOString().slice(0, 19)}+00:00`;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function createDeepgramClient(options: DeepgramClientOptions): DeepgramClient {
  const getJson = createGetJson(options);
  const log = (options.logger ?? silentLogger()).child({ component: "deepgram" });
  const projectPath = (projectId: string): string => `/v1/projects/${encodeURIComponent(projectId)}`;

  // Items we cannot use in projects/keys listings are few and harmless to skip, but never silently.
  const reportSkipped = (what: string, projectId: string | null, skipped: RejectedItem[]): void => {
    if (skipped.length > 0) log.warn({ projectId, skipped: skipped.map((s) => s.reason) }, `deepgram ${what}: skipped unusable entries`);
  };

  return {
    async listProjects(signal) {
      const { projects, skipped } = await getJson({ endpoint: "projects", path: "/v1/projects", projectId: null, parse: parseProjects, signal });
      reportSkipped("projects", null, skipped);
      return projects;
    },

    async listRequests(projectId: string, q: RequestsQuery, signal?: AbortSignal) {
      if (!Number.isInteger(q.page) || q.page < 0) throw new RangeError(`listRequests: page must be an integer >= 0, got ${q.page}`);
      if (!Number.isInteger(q.limit) || q.limit < 1) throw new RangeError(`listRequests: limit must be an integer >= 1, got ${q.limit}`);
      // URLSearchParams turns the offset's "+" into %2B; a raw "+" would be read as a space.
      const query = new URLSearchParams({
        start: formatRequestsDateTime(q.start),
        end: formatRequestsDateTime(q.end),
        limit: String(q.limit),
        page: String(q.page),
      });
      return getJson({
        endpoint: "requests",
        path: `${projectPath(projectId)}/requests?${query.toString()}`,
        projectId,
        parse: (json) => parseRequestsPage(json, { page: q.page, limit: q.limit }),
        parseBytes: (utf8) => parseRequestsPageBytes(utf8, { page: q.page, limit: q.limit }),
        signal,
      });
    },

    async getRequest(projectId, requestId, signal) {
      return getJson({
        endpoint: "request",
        path: `${projectPath(projectId)}/requests/${encodeURIComponent(requestId)}`,
        projectId,
        parse: parseRequestItem,
        signal,
      });
    },

    async getUsage(projectId: string, q: UsageQuery, signal?: AbortSignal) {
      if (!DAY.test(q.start) || !DAY.test(q.end)) throw new RangeError(`getUsage: start and end must be YYYY-MM-DD, got ${q.start}..${q.end}`);
      const query = new URLSearchParams({ start: q.start, end: q.end });
      return getJson({ endpoint: "usage", path: `${projectPath(projectId)}/usage?${query.toString()}`, projectId, parse: parseUsage, signal });
    },

    async listKeys(projectId, signal) {
      const { keys, skipped } = await getJson({ endpoint: "keys", path: `${projectPath(projectId)}/keys`, projectId, parse: parseKeys, signal });
      reportSkipped("keys", projectId, skipped);
      return keys;
    },
  };
}
