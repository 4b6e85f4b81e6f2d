import { describe, expect, it } from "vitest";
import { parseRoute } from "./router";
import { normaliseSearch } from "./search";
import { addSample, emptySeries } from "./telemetry";
import { timelineSvg } from "./timeline";
import { avatarProblem, validate, writeBody, type Form } from "./twinform";
import type { MetricsFrame } from "./types";
import { backoffMs } from "./socket";

// `as`: the settings a twin has, whatever fields the generated shape adds (or has yet to add).
const form = {
  codename: "Ada", designation: "", mission: "", avatar: null, directive_logic: "", provider: null, model: null, base_url: null,
  temperature: 0.3, token_limit: 16000, step_limit: 6, approval_timeout_s: 600, allowed_tools: ["python"], always_allow: [],
  code_generation: true, api_key: "", mcp_tools: [], always_remember: [], eval_gate: null, may_ask: [], max_depth: 3,
} as Form;

describe("routes", () => {
  it("parses client routes", () => {
    expect(parseRoute("/")).toEqual({ view: "hub", twinId: "orchestrator" });
    expect(parseRoute("/twins/ada")).toEqual({ view: "hub", twinId: "ada" });
    expect(parseRoute("/twins/ada/settings")).toEqual({ view: "settings", twinId: "ada" });
    expect(parseRoute("/search")).toEqual({ view: "search" });
    expect(parseRoute("/jobs/j1", "?session=s1")).toEqual({ view: "job", jobId: "j1", sessionId: "s1" });
  });
});

describe("twin form", () => {
  it("validates like the edge does", () => {
    expect(validate(form)).toEqual([]);
    expect(validate({ ...form, codename: " " })).toContain("Codename is required.");
    expect(validate({ ...form, temperature: 2 })).toHaveLength(1);
    expect(validate({ ...form, always_allow: ["command_exec"] })).toHaveLength(1);
  });
  it("sends the API key only when one was typed", () => {
    expect("api_key" in writeBody(form)).toBe(false);
    expect(writeBody({ ...form, api_key: " k " }).api_key).toBe("k");
  });
  it("refuses avatars over 2 MB or of other types", () => {
    expect(avatarProblem({ size: 3 * 1024 * 1024, type: "image/png" })).toMatch(/2 MB/);
    expect(avatarProblem({ size: 10, type: "text/plain" })).toMatch(/PNG/);
    expect(avatarProblem({ size: 10, type: "image/webp" })).toBeNull();
  });
});

describe("telemetry series", () => {
  const frame = (seq: number, cpu: number | null): MetricsFrame => ({
    seq, host_id: "h", ts: new Date(1_700_000_000_000 + seq * 1000).toISOString(),
    sample: {
      host_id: "h", interval_s: 1, uptime_s: 1, process_count: 1,
      cpu: { count: 2, percent: cpu, per_core: [], load_avg: [0, 0, 0] },
      memory: { total_bytes: 100, available_bytes: 50, used_bytes: 50, percent: 50 },
      swap: { total_bytes: 0, used_bytes: 0, percent: 0 },
      disk: { usage: [], io: { read_bytes_per_s: null, write_bytes_per_s: null, read_ops_per_s: null, write_ops_per_s: null }, io_per_disk: {} },
      network: { total: { rx_bytes_per_s: null, tx_bytes_per_s: 5, rx_packets_per_s: null, tx_packets_per_s: null }, interfaces: {} },
      gpu: { available: false, reason: "no NVML", driver_version: null, devices: [] },
    },
  });
  it("appends in order, skips replayed samples, keeps nulls as gaps", () => {
    const s = emptySeries("h");
    expect(addSample(s, frame(1, null))).toBe(true);
    expect(addSample(s, frame(2, 12.5))).toBe(true);
    expect(addSample(s, frame(2, 99))).toBe(false);
    expect(s.cpu).toEqual([null, 12.5]);
    expect(s.rx).toEqual([null, null]);
    expect(s.gpu).toEqual([null, null]);
    expect(s.gpuReason).toBe("no NVML");
  });
});

describe("search answers", () => {
  it("accepts split lists and a mixed list", () => {
    const a = normaliseSearch({ messages: [{ text: "hi", session_id: "s", twin_id: "t" }], logs: [{ message: "boom", level: "error", job_id: "j" }] });
    expect(a.messages[0]!.sessionId).toBe("s");
    expect(a.logs[0]!.level).toBe("error");
    const b = normaliseSearch({ results: [{ kind: "log", text: "x", job_id: "j" }, { kind: "message", text: "y" }] });
    expect(b.logs).toHaveLength(1);
    expect(b.messages).toHaveLength(1);
    expect(normaliseSearch(null)).toEqual({ messages: [], logs: [] });
  });
});

describe("misc", () => {
  it("escapes event text in the SVG timeline", () => {
    const svg = timelineSvg("s", [{ seq: 1, type: "chat.in", ts: "2026-01-01T00:00:00Z", jobId: null, label: "<script>" }]);
    expect(svg).toContain("&#60;script&#62;");
    expect(svg).not.toContain("<script>");
  });
  it("backs off reconnects up to a ceiling", () => {
    expect(backoffMs(0)).toBeLessThan(backoffMs(3));
    expect(backoffMs(50)).toBe(8000);
  });
});
