import type { Migration } from "kysely";
import * as m0001 from "./0001_archive.js";
import * as m0002 from "./0002_usage_rollups.js";
import * as m0003 from "./0003_compliance.js";
import * as m0004 from "./0004_source_hash.js";

/**
 * Every migration, in order. A static registry instead of reading the folder: it works the same
 * under tsx, vitest and the compiled dist/ (see STACK-NOTES).
 */
export const migrations: Record<string, Migration> = {
  "0001_archive": m0001,
  "0002_usage_rollups": m0002,
  "0003_compliance": m0003,
  "0004_source_hash": m0004,
};
