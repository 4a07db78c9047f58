/**
 * Builds one request-log item from its identity and a few bits of mutable state. Every random draw
 * happens before the state is consulted, so completing or mutating a record changes only what the
 * state controls and the rest of the item stays byte-identical.
 */
import {
  AGENT_USD_PER_MIN,
  FAILURES,
  LANGUAGES,
  LISTEN_FEATURES,
  LISTEN_MODELS,
  LISTEN_USD_PER_MIN,
  MODEL_IDS,
  READ_FEATURES,
  SPEAK_MODELS,
  SPEAK_USD_PER_CHAR,
  TAG_POOL,
} from "./catalog.js";
import { requestIdOf, type ProjectSpec } from "./data.js";
import { hash32, intBetween, mulberry32, pick, pickWeighted, type Rng } from "./prng.js";
import { SECOND_US, formatUs } from "./time.js";
import type { RequestItem } from "./types.js";

/** Per-record state bits (see store.ts). */
export const FLAG_PENDING = 1;
export const FLAG_USD_ZERO = 2;
export const FLAG_CALLBACK_WAITING = 4;
export const FLAG_LOST = 8;

const SALT_ITEM = 0x4974656d;

const METHODS = [["sync", 35], ["async", 25], ["streaming", 40]] as const;
const TAG_COUNTS = [[0, 55], [1, 30], [2, 15]] as const;
const TAG_QUERY: Record<string, string> = Object.fromEntries(TAG_POOL.map((t) => [t, `tag=${encodeURIComponent(t)}`]));
const CALLBACK_URL = 'https://hooks.example.com/dg?src=sim&kind="async"';
const CALLBACK_QUERY = `callback=${encodeURIComponent(CALLBACK_URL)}`;

const round2 = (x: number): number => Math.round(x * 100) / 100;
const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Log-uniform seconds in [lo, hi], to centiseconds: many short requests, a long tail. */
function seconds(rng: Rng, lo: number, hi: number): number {
  return round2(Math.exp(Math.log(lo) + rng() * (Math.log(hi) - Math.log(lo))));
}

/** Booleans in `config` come back as strings now and then (deepgram-dotnet-sdk#346). */
function flag(rng: Rng): boolean | string {
  return rng() < 0.15 ? "true" : true;
}

function subset<T>(rng: Rng, items: readonly T[], p: number): T[] {
  return items.filter(() => rng() < p);
}

interface Body {
  path: string;
  details: Record<string, unknown>;
  /** tts_details or token_details, placed beside `details`. */
  extra: readonly [string, unknown] | null;
  processingUs: number;
  asyncCallback: boolean;
}

function listenBody(rng: Rng, query: string): Body {
  const method = pickWeighted(rng, METHODS);
  const model = pickWeighted(rng, LISTEN_MODELS);
  const language = pickWeighted(rng, LANGUAGES);
  const duration = method === "streaming" ? seconds(rng, 30, 1800) : method === "async" ? seconds(rng, 60, 3600) : seconds(rng, 2, 600);
  const channels = rng() < 0.15 ? 2 : 1;
  const features: string[] = subset(rng, LISTEN_FEATURES, 0.3);
  if (method === "streaming" && rng() < 0.5) features.push("interim_results");
  const config: Record<string, unknown> = { model, language };
  for (const f of features) config[f] = flag(rng);
  if (method === "streaming") {
    config.encoding = "linear16";
    config.sample_rate = rng() < 0.5 ? 16000 : "16000";
  }
  const asyncCallback = method === "async" && rng() < 0.28;
  if (asyncCallback) config.callback = CALLBACK_URL;
  let path = `/v1/listen?model=${model}&language=${language}`;
  for (const f of features) path += `&${f}=true`;
  if (asyncCallback) path += `&${CALLBACK_QUERY}`;
  const processingUs = Math.round((method === "streaming" ? duration + 0.4 : method === "async" ? 2 + duration / 10 : 0.2 + duration / 30) * SECOND_US);
  const details: Record<string, unknown> = {
    usd: round6((duration / 60) * LISTEN_USD_PER_MIN[method] * channels),
    duration,
    total_audio: round2(duration * channels),
    channels,
    streams: method === "streaming" ? 1 : 0,
    models: [MODEL_IDS[model]!],
    method,
  };
  if (model.startsWith("nova")) details.tier = "nova";
  details.features = features;
  details.config = config;
  return {
    path: query ? `${path}&${query}` : path,
    details,
    extra: null,
    processingUs,
    asyncCallback,
  };
}

function speakBody(rng: Rng, query: string): Body {
  const model = pick(rng, SPEAK_MODELS);
  const method = rng() < 0.8 ? "sync" : "streaming";
  const encoding = rng() < 0.6 ? "linear16" : "mp3";
  const characters = intBetween(rng, 20, 4000);
  const split = rng() < 0.1 ? Math.floor(characters / 3) : 0;
  const tier = model.startsWith("aura-2") ? "aura-2" : "aura";
  const segments = split > 0 ? [split, characters - split] : [characters];
  return {
    path: `/v1/speak?model=${model}&encoding=${encoding}${query ? `&${query}` : ""}`,
    details: { usd: round6(characters * SPEAK_USD_PER_CHAR), method, models: [MODEL_IDS[model]!], features: [], config: { model, encoding } },
    extra: ["tts_details", { duration: round2(characters / 14), speech_segments: segments.map((c) => ({ characters: c, model, tier })) }],
    processingUs: Math.round((0.1 + characters / 5000) * SECOND_US),
    asyncCallback: false,
  };
}

function readBody(rng: Rng, query: string): Body {
  const features = subset(rng, READ_FEATURES, 0.5);
  if (features.length === 0) features.push("summarize");
  const tokens = features.map((feature) => ({
    feature: feature === "summarize" ? "summarization" : feature,
    input: intBetween(rng, 200, 20000),
    output: intBetween(rng, 20, 800),
    model: "llama-3-8b",
  }));
  const config: Record<string, unknown> = { language: "en" };
  for (const f of features) config[f] = f === "summarize" ? "v2" : flag(rng);
  const total = tokens.reduce((s, t) => s + t.input + t.output, 0);
  return {
    path: `/v1/read?${features.map((f) => `${f}=${f === "summarize" ? "v2" : "true"}`).join("&")}&language=en${query ? `&${query}` : ""}`,
    details: { usd: round6(total * 0.0000006), method: "sync", models: [MODEL_IDS["llama-3-8b"]!], features, config },
    extra: ["token_details", tokens],
    processingUs: Math.round((0.5 + total / 20000) * SECOND_US),
    asyncCallback: false,
  };
}

function agentBody(rng: Rng, query: string): Body {
  const duration = seconds(rng, 20, 1200);
  const input = intBetween(rng, 500, 60000);
  const output = intBetween(rng, 100, 8000);
  return {
    path: `/v1/agent/converse${query ? `?${query}` : ""}`,
    details: {
      usd: round6((duration / 60) * AGENT_USD_PER_MIN),
      duration,
      total_audio: duration,
      channels: 1,
      streams: 1,
      models: [MODEL_IDS["nova-3"]!, MODEL_IDS["gpt-4o-mini"]!, MODEL_IDS["aura-2-thalia-en"]!],
      method: "streaming",
      features: [],
      config: { model: "nova-3", think_model: "gpt-4o-mini", speak_model: "aura-2-thalia-en", smart_format: "true" },
    },
    extra: ["token_details", [{ feature: "agent", input, output, model: "gpt-4o-mini" }]],
    processingUs: Math.round((duration + 1) * SECOND_US),
    asyncCallback: false,
  };
}

/** The item exactly as the API serves it: a fresh object on every call. */
export function materialize(spec: ProjectSpec, serial: number, createdUs: number, flags: number, revisions: number): RequestItem {
  const rng = mulberry32(hash32(spec.seed, SALT_ITEM, serial));
  const keyId = pickWeighted(rng, spec.keyTable);
  const kindRoll = rng();
  const failure = rng() < 0.03 ? pick(rng, FAILURES) : null;
  const tagCount = pickWeighted(rng, TAG_COUNTS);
  const tags: string[] = [];
  for (let i = 0; i < tagCount; i++) tags.push(pick(rng, TAG_POOL));
  const query = tags.map((t) => TAG_QUERY[t]!).join("&");
  const body = kindRoll < 0.72 ? listenBody(rng, query) : kindRoll < 0.86 ? speakBody(rng, query) : kindRoll < 0.93 ? readBody(rng, query) : agentBody(rng, query);
  const withProjectUuid = rng() < 0.7;
  const withCode = rng() < 0.2;
  const withDeployment = rng() < 0.3;
  const withFuture = rng() < 0.02;
  const callbackAsString = rng() < 0.2;
  const callbackFailed = rng() < 0.1;
  const deployment = rng() < 0.9 ? "hosted" : "beta";

  const completedUs = createdUs + body.processingUs;
  const pending = (flags & FLAG_PENDING) !== 0;
  let response: Record<string, unknown> | null = null;
  if (!pending && failure) {
    response = { code: failure[0], completed: formatUs(createdUs + 150_000), message: failure[1] };
  } else if (!pending) {
    const details = body.details;
    details.tags = tags;
    if ((flags & FLAG_USD_ZERO) !== 0) details.usd = 0;
    for (let i = 1; i <= revisions; i++) tags.push(`revised-${i}`);
    if (withFuture) details.x_region = "us-east-1";
    response = { details };
    if (body.extra) response[body.extra[0]] = body.extra[1];
    response.code = 200;
    response.completed = formatUs(completedUs);
  }

  let callback: unknown = null;
  if (response && body.asyncCallback && !failure) {
    if (callbackAsString) callback = CALLBACK_URL;
    else if ((flags & FLAG_CALLBACK_WAITING) !== 0) callback = { attempts: 0, code: null, completed: null };
    else callback = callbackFailed ? { attempts: 3, code: 500, completed: formatUs(completedUs + 95 * SECOND_US) } : { attempts: 1, code: 200, completed: formatUs(completedUs + 180_000) };
  }

  const item: RequestItem = { request_id: requestIdOf(spec, serial), created: formatUs(createdUs) };
  if (withProjectUuid) item.project_uuid = spec.project.project_id;
  item.path = body.path;
  item.api_key_id = keyId;
  item.accessor = keyId;
  if (withDeployment) item.deployment = deployment;
  if (withCode && response) item.code = response.code;
  item.response = response;
  item.callback = callback;
  if (withFuture) item.x_future_field = { nested: [1, 2] };
  return item;
}
