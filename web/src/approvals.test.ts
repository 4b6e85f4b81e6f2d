import { describe, expect, it } from "vitest";
import { modalApproval, pendingApprovals } from "./approvals";
import type { Approval, EvalSummary } from "./types";

const NOW = Date.parse("2026-12-04T12:00:00Z");
const approval = (id: string, over: Partial<Approval> = {}): Approval => ({
  approval_id: id, kind: "self_improve", action: { action_type: "ActionResponse", content: "" }, summary: "", reason: "", policy: "self-improve",
  expires_at: "2026-12-04T13:00:00Z", mcp: null, session_id: "s1", job_id: "j1", twin_id: "ada", ...over,
});
const running: EvalSummary = { set_id: "digits", run_id: "r", state: "running", passed: 0, total: 0, pass_rate: 0, baseline_pass_rate: null, required: 0.9, ok: null, error: null };

describe("pending approvals", () => {
  it("keeps the request's eval_pending and the record's eval for one approval seen both ways", () => {
    const [one, ...rest] = pendingApprovals([approval("a", { eval: running, created_at: "2026-12-04T11:00:00Z", state: "pending" })],
      [approval("a", { eval_pending: true })], new Set(), NOW);
    expect(rest).toEqual([]);
    expect(one).toMatchObject({ eval_pending: true, eval: running, created_at: "2026-12-04T11:00:00Z" });
  });

  it("drops what was decided here and what expired, oldest first", () => {
    const list = [approval("late", { created_at: "2026-12-04T11:30:00Z" }), approval("early", { created_at: "2026-12-04T11:00:00Z" }),
      approval("gone", { expires_at: "2026-12-04T11:59:59Z" })];
    expect(pendingApprovals(list, [approval("mine")], new Set(["late"]), NOW).map((a) => a.approval_id)).toEqual(["mine", "early"]);
  });
});

describe("the modal's approval", () => {
  const live = approval("a");
  it("waits for the edge's list while the session replays", () => {
    expect(modalApproval([live], new Map([["s1", { replaying: true }]]), new Set(), new Set())).toBeUndefined();
    expect(modalApproval([live], new Map([["s1", { replaying: true }]]), new Set(["a"]), new Set())).toBe(live);
    expect(modalApproval([live], new Map([["s1", { replaying: false }]]), new Set(), new Set())).toBe(live);
  });

  it("is never another browser's session's, nor one put off", () => {
    expect(modalApproval([live], new Map([["s2", { replaying: false }]]), new Set(["a"]), new Set())).toBeUndefined();
    expect(modalApproval([live], new Map([["s1", { replaying: false }]]), new Set(["a"]), new Set(["a"]))).toBeUndefined();
  });
});
