/** Compliance: retention with legal holds, day seals and verification, verifiable exports (issue 6). */
export { runRetention, type RetentionConfig, type RetentionDeps, type RetentionOptions, type RetentionReport, type RetentionMonth } from "./retention.js";
export { retentionCutoff, rollupCutoffDay } from "./policy.js";
export { addHold, listHolds, releaseHold, HoldError, type LegalHold } from "./holds.js";
export { sealArchive, acceptSealedDays, diffSealedDays, type SealReport, type SealDiff, type SealDay } from "./seals.js";
export { verifyArchive, type VerifyReport, type VerifyOptions, type DayCheck } from "./verify.js";
export { exportArchive, verifyExportFile, manifestPath, CSV_COLUMNS, type ExportManifest, type ExportCheck, type ExportFormat } from "./export.js";
export { declareWriter, type ArchiveWriter } from "./writer.js";
