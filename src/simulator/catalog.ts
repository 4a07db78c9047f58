/**
 * Fixed vocabularies the generator draws from. Several entries are deliberately hostile to naive
 * code (quotes, SQL-looking text, non-Latin script, emoji), because archived tags and comments end
 * up in SQL, CSV and HTML.
 */

/** Model names with stable ids: Deepgram's model ids are global, not per project. */
export const MODEL_IDS: Record<string, string> = {
  "nova-3": "2187e11a-3532-4498-b076-81fa530bdd49",
  "nova-2": "30089e05-99d1-4376-b32e-c263170674af",
  "nova-2-phonecall": "4d892fb6-7f6c-4e5b-a2a3-6f5a5b8cd2e1",
  "whisper-large": "9c5b6e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
  "aura-2-thalia-en": "ecb1d4d3-60c6-4d6b-9b0d-3b0f5e1c2a44",
  "aura-2-andromeda-en": "1f0b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
  "aura-asteria-en": "7a1e9c52-2b4d-4f6e-8a0c-1d3e5f7a9b2c",
  "llama-3-8b": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
  "gpt-4o-mini": "0d1e2f3a-4b5c-4d6e-9f7a-8b9c0d1e2f3a",
};

export const LISTEN_MODELS = [
  ["nova-3", 6],
  ["nova-2", 3],
  ["nova-2-phonecall", 1],
  ["whisper-large", 0.5],
] as const;

export const SPEAK_MODELS = ["aura-2-thalia-en", "aura-2-andromeda-en", "aura-asteria-en"] as const;

export const LANGUAGES = [
  ["en", 8],
  ["en-US", 3],
  ["de", 1],
  ["ja", 1],
  ["es", 1],
] as const;

export const TAG_POOL = [
  "billing-batch",
  "call-center",
  "support",
  "nightly",
  "it's \"quoted\"",
  "'; drop table requests; --",
  "日本語タグ",
  "Ünïcode",
  "émoji 🎧",
  "a,b;c\td",
] as const;

export const LISTEN_FEATURES = ["punctuate", "smart_format", "diarize", "utterances", "redact", "topics", "sentiment", "numerals"] as const;
export const READ_FEATURES = ["summarize", "topics", "intents", "sentiment"] as const;

export const KEY_COMMENTS = [
  "billing batch",
  "call-center 'EU'",
  "Ünïcode team 日本",
  "archiver (read-only) \"prod\"",
  "legacy key; do not use",
  "voice agent 🤖",
  "nightly <export> & reports",
] as const;

export const KEY_SCOPES = [["member"], ["member"], ["admin"], ["member"], ["owner"], ["member"], ["member"]] as const;

export const PROJECT_NAMES = ["Acme Production", "Acme Staging", "Research \"Lab\"", "Ünïcode Ltd 株式会社"] as const;

export const FAILURES = [
  [400, "Bad Request: failed to process audio: corrupt or unsupported data"],
  [400, "Bad Request: no audio in request"],
  [401, "Invalid credentials."],
  [402, "Project does not have enough credits for this request."],
  [413, "Payload too large"],
  [429, "Too many requests. Please try again later"],
  [500, "Internal server error"],
  [503, "Service unavailable: upstream model overloaded"],
] as const;

/** USD per minute of audio, by method; speak is priced per character. */
export const LISTEN_USD_PER_MIN = { sync: 0.0043, async: 0.0043, streaming: 0.0077 } as const;
export const SPEAK_USD_PER_CHAR = 0.00003;
export const AGENT_USD_PER_MIN = 0.08;
