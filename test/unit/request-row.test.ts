import { describe, expect, it } from "vitest";
import { toRequestRow } from "../../src/archive/request-row.js";

const base = { request_id: "r1", created: "2026-08-20T14:05:09.118204Z" };

describe("toRequestRow", () => {
  it("extracts the typed columns of a completed listen request", () => {
    const item = {
      ...base,
      path: "/v1/listen?model=nova-3",
      api_key_id: "k1",
      accessor: "k1",
      response: {
        code: 200,
        completed: "2026-08-20T14:05:11.402317Z",
        details: { usd: 0.0043, duration: 61.2, total_audio: 61.2, channels: 1, streams: 0, models: ["m1"], method: "sync", tags: ["t'1", "日本"], features: ["punctuate"] },
      },
      callback: { attempts: 1, code: 204, completed: "2026-08-20T14:05:12Z" },
      x_future: { a: 1 },
    };
    const row = toRequestRow(item);
    expect(row).toEqual({
      request_id: "r1",
      created: base.created,
      path: "/v1/listen?model=nova-3",
      endpoint: "listen",
      api_key_id: "k1",
      accessor: "k1",
      deployment: null,
      method: "sync",
      code: 200,
      status: "succeeded",
      completed: "2026-08-20T14:05:11.402317Z",
      duration_seconds: 61.2,
      total_audio_seconds: 61.2,
      usd: 0.0043,
      channels: 1,
      streams: 0,
      models: ["m1"],
      tags: ["t'1", "日本"],
      features: ["punctuate"],
      callback_code: 204,
      raw: item,
    });
  });

  it("accepts the spec's shape: top-level code, string callback, numbers as strings", () => {
    const row = toRequestRow({
      ...base,
      path: "/v1/speak?model=aura",
      code: "503",
      deployment: "hosted",
      callback: "https://hooks.example.com/x",
      response: { details: { usd: "0.25", duration: "12.5", channels: "2" } },
    });
    expect(row).toMatchObject({ endpoint: "speak", code: 503, status: "failed", deployment: "hosted", callback_code: null, usd: 0.25, duration_seconds: 12.5, channels: 2 });
  });

  it("marks a request without a response as pending and a message-only response as failed", () => {
    expect(toRequestRow({ ...base, response: null }).status).toBe("pending");
    expect(toRequestRow({ ...base, response: {} }).status).toBe("pending");
    expect(toRequestRow({ ...base, response: { message: "Bad Request" } }).status).toBe("failed");
  });

  it("names the endpoint from the path, else from a declared endpoint, else other", () => {
    expect(toRequestRow({ ...base, path: "/v1/agent/converse" }).endpoint).toBe("agent");
    expect(toRequestRow({ ...base, path: "/v1/read?summarize=true" }).endpoint).toBe("read");
    expect(toRequestRow({ ...base, path: "/v1/listener" }).endpoint).toBe("other");
    expect(toRequestRow({ ...base, endpoint: "speak" }).endpoint).toBe("speak");
  });

  it("drops values Postgres would reject instead of failing the page", () => {
    const row = toRequestRow({
      ...base,
      response: { code: 1e12, completed: "yesterday", details: { usd: "NaN", duration: Infinity, tags: ["ok", 3, null], models: "m" } },
    });
    expect(row).toMatchObject({ code: null, completed: null, usd: null, duration_seconds: null, tags: ["ok"], models: [] });
  });
});
