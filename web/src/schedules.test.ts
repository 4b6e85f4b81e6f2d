import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { parseRoute } from "./router";
import { describeSpec, durationSeconds, formProblem, loadFailed, relative, schedulePath, sortSchedules, specProblem, timeZoneProblem, writeBody } from "./schedules";
import type { Schedule } from "./types";

const sc = (over: Partial<Schedule> = {}): Schedule => ({
  id: "s1", owner: "ada", owner_role: "member", paused: false, created_at: "2026-12-04T08:00:00Z", updated_at: "2026-12-04T08:00:00Z",
  twin_id: "ops", session_id: "ops-1", message: "summary", spec: "@every 2s", time_zone: null, next_run: null, last_run: null,
  last_job_id: null, runs: 0, skipped: 0, last_skipped_at: null, done: false, ...over,
});
const form = { twin_id: "ops", session_id: "ops-1", message: "hello", spec: "@every 1m", time_zone: "" };

describe("schedule specs", () => {
  it("reads Go-style durations", () => {
    expect(durationSeconds(" 2s")).toBe(2);
    expect(durationSeconds("1h30m")).toBe(5400);
    expect(durationSeconds("500ms")).toBe(0.5);
    expect(durationSeconds("2 seconds")).toBeNull();
    expect(durationSeconds("")).toBeNull();
  });

  it("accepts the three forms and refuses what the edge would", () => {
    expect(specProblem("@every 2s")).toBeNull();
    expect(specProblem("@every 500ms")).toBe("@every is 1s at least");
    expect(specProblem("@every soon")).toMatch(/duration/);
    expect(specProblem("@at 2027-01-01T08:00:00Z")).toBeNull();
    expect(specProblem("@at 2027-01-01T08:00:00+01:00")).toBeNull();
    expect(specProblem("@at 2027-01-01 08:00")).toMatch(/RFC 3339/);
    expect(specProblem("@at 2027-13-45T08:00:00Z")).toMatch(/RFC 3339/);
    expect(specProblem("0 0 8 * * 1-5")).toBeNull();
    expect(specProblem("0 8 * * 1-5")).toMatch(/6 fields.*has 5/);
    expect(specProblem("0 0 8 * * 1-5;rm")).toMatch(/cron day of week 1-5;rm: use \*/);
    expect(specProblem("*/15 0,30 8-18 * * *")).toBeNull();
    expect(specProblem("0 0 25 * * *")).toBe("cron hour 25 is outside 0-23");
    expect(specProblem("0 0 8 * * MON")).toMatch(/cron day of week MON/);
    expect(specProblem("0 0 8 * * 5-1")).toMatch(/outside 0-7/);
    expect(specProblem("0 0 8 * * */0")).toMatch(/step is 1 at least/);
    expect(specProblem("@daily")).toMatch(/unknown spec @daily/);
    expect(specProblem("@sometimes")).toMatch(/unknown spec @sometimes/);
    expect(specProblem("  ")).toMatch(/needs a spec/);
  });

  it("knows an IANA zone from a made-up one", () => {
    expect(timeZoneProblem("Europe/Berlin")).toBeNull();
    expect(timeZoneProblem("")).toBeNull();
    expect(timeZoneProblem("Mars/Olympus")).toMatch(/unknown time zone Mars\/Olympus/);
  });

  it("says a spec as a person would read it", () => {
    expect(describeSpec("@every 2s")).toBe("every 2s");
    expect(describeSpec("@at 2027-01-01T08:00:00Z", "Europe/Berlin")).toBe("once at 2027-01-01T08:00:00Z");
    expect(describeSpec("0 0 8 * * 1-5", "Europe/Berlin")).toBe("cron 0 0 8 * * 1-5 (Europe/Berlin)");
    expect(describeSpec("0 0 8 * * 1-5", null)).toBe("cron 0 0 8 * * 1-5");
  });
});

describe("schedule form", () => {
  it("sends the contract's body, trimmed, without an empty time zone", () => {
    expect(writeBody({ ...form, message: " hi ", spec: " @every 1m " })).toEqual({ twin_id: "ops", session_id: "ops-1", message: "hi", spec: "@every 1m" });
    expect(writeBody({ ...form, spec: "0 0 8 * * 1-5", time_zone: " Europe/Berlin" }).time_zone).toBe("Europe/Berlin");
    expect(writeBody({ ...form, time_zone: "Europe/Berlin" }).time_zone).toBeUndefined();
  });

  it("names the first thing missing or wrong", () => {
    expect(formProblem(form)).toBeNull();
    expect(formProblem({ ...form, twin_id: "" })).toBe("pick a twin");
    expect(formProblem({ ...form, session_id: " " })).toMatch(/session/);
    expect(formProblem({ ...form, message: "" })).toMatch(/message/);
    expect(formProblem({ ...form, spec: "@every 0s" })).toMatch(/1s at least/);
    expect(formProblem({ ...form, time_zone: "Nowhere/City" })).toMatch(/unknown time zone/);
    expect(formProblem({ ...form, time_zone: "Europe/Berlin" })).toMatch(/cron expressions only/);
    expect(formProblem({ ...form, spec: "0 0 8 * * 1-5", time_zone: "Europe/Berlin" })).toBeNull();
    expect(formProblem({ ...form, session_id: "a.b" })).toMatch(/session id/);
  });
});

describe("schedule list", () => {
  it("puts the soonest first and paused ones last", () => {
    const list = [
      sc({ id: "p", paused: true, next_run: "2026-12-04T08:00:01Z" }),
      sc({ id: "late", next_run: "2026-12-04T09:00:00Z" }),
      sc({ id: "none", next_run: null }),
      sc({ id: "soon", next_run: "2026-12-04T08:30:00Z" }),
    ];
    expect(sortSchedules(list).map((s) => s.id)).toEqual(["soon", "late", "none", "p"]);
    expect(list[0]!.id).toBe("p"); // not sorted in place
  });

  it("says times relative to now", () => {
    const now = Date.parse("2026-12-04T08:00:00Z");
    expect(relative("2026-12-04T08:00:05Z", now)).toBe("in 5 s");
    expect(relative("2026-12-04T07:57:00Z", now)).toBe("3 min ago");
    expect(relative(now / 1000 + 7200, now)).toBe("in 2.0 h");
    expect(relative(null, now)).toBe("–");
    expect(relative("never", now)).toBe("–");
  });

  it("escapes ids in paths and tells a missing route from a failure", () => {
    expect(schedulePath("a/b")).toBe("/v1/schedules/a%2Fb");
    expect(schedulePath("s1", "pause")).toBe("/v1/schedules/s1/pause");
    expect(loadFailed(new ApiError(404, "not found")).state).toBe("unavailable");
    expect(loadFailed(new ApiError(500, "boom")).state).toBe("error");
    expect(parseRoute("/schedules")).toEqual({ view: "schedules" });
  });
});
