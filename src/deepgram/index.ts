/** Public API of the Deepgram management client; other modules import from here only. */
export { createDeepgramClient, formatRequestsDateTime } from "./client.js";
export {
  DeepgramHttpError,
  DeepgramNetworkError,
  DeepgramResponseError,
  isProjectFatal,
  isRetryable,
  parseRetryAfter,
  type DeepgramError,
  type ResponseProblem,
} from "./errors.js";
export { isZonedIsoDateTime, parseKeys, parseProjects, parseRequestItem, parseRequestsPage, parseRequestsPageBytes, parseUsage, validateRequestItem } from "./schemas.js";
export type {
  ApiKeyInfo,
  ClientEvent,
  DeepgramClient,
  DeepgramClientOptions,
  Endpoint,
  ProjectInfo,
  RejectedItem,
  RequestItem,
  RequestsPage,
  RequestsQuery,
  UsageDayResult,
  UsageQuery,
  UsageResponse,
} from "./types.js";
