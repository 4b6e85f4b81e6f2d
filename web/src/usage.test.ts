import { describe, expect, it } from "vitest";
import { parseRoute } from "./router";
import type { UsageTotal } from "./types";
import { ApiError } from "./api";
import { costNote, costText, loadFailed, dailySeries, estimatedNote, isEmpty, lastDays, money, tokensText, usagePath } from "./usage";

const total = (over: Partial<UsageTotal> = {}): UsageTotal => ({
  key: "ada", seq: 0, calls: 4, input_tokens: 1200, output_tokens: 340, estimated_calls: 0, cost: 0.0123,
  unpriced_calls: 0, run_wall_ms: 0, run_cpu_ms: 0, cpu_measured_runs: 0, ...over,
});

describe("usage cost", () => {
  it("shows an unknown cost as unknown, never as zero", () => {
    expect(money(null)).toBe("unknown");
    expect(money(null, "EUR")).toBe("unknown");
    expect(money(0)).toBe("$0.00");
  });

  it("keeps small amounts visible and names other currencies", () => {
    expect(money(0.000375)).toBe("$0.00038");
    expect(money(0.0000035)).toBe("$0.0000035");
    expect(money(1.5)).toBe("$1.50");
    expect(money(2, "EUR")).toBe("2.00 EUR");
  });

  it("gives a partly priced total as a lower bound, an unpriced one as unknown", () => {
    expect(costText(total({ cost: null, unpriced_calls: 4 }))).toBe("unknown");
    expect(costText(total({ cost: 0.006, unpriced_calls: 1 }))).toBe("≥ $0.006");
    expect(costText(total({ cost: 0.006 }))).toBe("$0.006");
  });

  it("says how many calls had no price", () => {
    expect(costNote(total({ cost: null, unpriced_calls: 1 }))).toBe("1 of 4 calls without a known price");
    expect(costNote(total({ cost: null, unpriced_calls: 0 }))).toBe("no price known");
    expect(costNote(total())).toBeNull();
  });
});

describe("estimated tokens", () => {
  it("marks figures counted partly from the text", () => {
    expect(tokensText(1200, total({ estimated_calls: 1 }))).toBe("≈1,200");
    expect(tokensText(1200, total())).toBe("1,200");
    expect(estimatedNote(total({ estimated_calls: 1, calls: 1 }))).toBe("1 of 1 call estimated");
    expect(estimatedNote(total())).toBeNull();
  });
});

describe("usage query and series", () => {
  it("asks for whole UTC days, the last one included", () => {
    const range = lastDays(7, Date.parse("2026-12-04T03:30:00Z"));
    expect(range).toEqual({ since: "2026-11-28", until: "2026-12-04" });
    const q = new URL(usagePath("model", range), "http://x").searchParams;
    expect(q.get("by")).toBe("model");
    expect(Number(q.get("since"))).toBe(Date.parse("2026-11-28T00:00:00Z") / 1000);
    expect(Number(q.get("until"))).toBe(Date.parse("2026-12-04T23:59:59Z") / 1000);
  });

  it("orders days and leaves an unknown day's cost a gap", () => {
    const [t, input, output, cost] = dailySeries([
      { day: "2026-12-04", input_tokens: 10, output_tokens: 2, cost: null },
      { day: "2026-12-03", input_tokens: 5, output_tokens: 1, cost: 0.5 },
    ]);
    expect(t).toEqual([Date.parse("2026-12-03T00:00:00Z") / 1000, Date.parse("2026-12-04T00:00:00Z") / 1000]);
    expect(input).toEqual([5, 10]);
    expect(output).toEqual([1, 2]);
    expect(cost).toEqual([0.5, null]);
  });

  it("tells an empty report from one with calls", () => {
    expect(isEmpty(total({ calls: 0, input_tokens: 0, output_tokens: 0, cost: 0 }))).toBe(true);
    expect(isEmpty(total())).toBe(false);
  });

  it("tells a missing route and a ledger that is down from other failures", () => {
    expect(loadFailed(new ApiError(404, "not found")).state).toBe("unavailable");
    expect(loadFailed(new ApiError(503, "the usage ledger is not reachable")).state).toBe("down");
    expect(loadFailed(new ApiError(400, "since is after until"))).toEqual({ state: "error", why: "since is after until" });
    expect(loadFailed(new TypeError("Failed to fetch")).state).toBe("error");
  });

  it("routes the Usage view and a session's replay", () => {
    expect(parseRoute("/usage")).toEqual({ view: "usage" });
    expect(parseRoute("/sessions/ada-1x")).toEqual({ view: "session", sessionId: "ada-1x" });
  });
});
