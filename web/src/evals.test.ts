import { describe, expect, it } from "vitest";
import { caseRows, evalPending, evalSetWrite, evalVerdict, gateOf, gatePercent, parseChecks, resultLine, runPath } from "./evals";
import type { Approval, EvalResult, EvalSet, EvalSummary } from "./types";

const summary = (over: Partial<EvalSummary> = {}): EvalSummary => ({
  set_id: "regress", run_id: "r1", state: "done", passed: 4, total: 5, pass_rate: 0.8, baseline_pass_rate: 1, required: 0.9, ok: false,
  error: null, ...over,
});

const approval = (over: Partial<Approval> = {}): Approval => ({
  approval_id: "a1", kind: "self_improve", action: { action_type: "ActionResponse", content: "" }, summary: "", reason: "", policy: "self_improve",
  expires_at: "2099-01-01T00:00:00Z", mcp: null, session_id: "s1", job_id: "j1", twin_id: "ada", ...over,
});

describe("eval checks", () => {
  it("reads one check a line, as the CLI's --check", () => {
    expect(parseChecks("regex:\\bParis\\b\nmust_call:python\n\nmust_ask_approval\nexact:")).toEqual({
      checks: [{ kind: "regex", value: "\\bParis\\b" }, { kind: "must_call", value: "python" }, { kind: "must_ask_approval", value: "" }, { kind: "exact", value: "" }],
      problems: [],
    });
    expect(parseChecks("regex:a:b").checks).toEqual([{ kind: "regex", value: "a:b" }]);
  });

  it("says what is wrong with a line", () => {
    expect(parseChecks("contains:x").problems[0]).toMatch(/the kind is one of/);
    expect(parseChecks("must_call").problems[0]).toMatch(/needs a value/);
    expect(parseChecks("must_ask_approval:yes").problems[0]).toMatch(/takes no value/);
    expect(parseChecks("  \n").problems[0]).toMatch(/at least one check/);
    expect(parseChecks(Array.from({ length: 21 }, () => "must_ask_approval").join("\n")).problems).toEqual(["At most 20 checks a case."]);
  });

  it("makes POST /v1/evals's body, or refuses it", () => {
    const ok = evalSetWrite("regress", "ada", "", [{ session_id: "s1", job_id: "", checks: "must_call:python" }]);
    expect(ok).toEqual({ body: { set_id: "regress", twin_id: "ada", description: "", cases: [{ session_id: "s1", job_id: null, checks: [{ kind: "must_call", value: "python" }] }] } });
    const bad = evalSetWrite("no spaces", "ada", "", [{ session_id: "s/1", job_id: "j.1", checks: "" }]);
    expect("problems" in bad && bad.problems).toEqual([
      "Set id: 1-64 characters of A-Z a-z 0-9 _ -.",
      "Turn 1: a session id is 1-64 characters of A-Z a-z 0-9 _ -.",
      "Turn 1: the job id is not a valid id.",
      "Turn 1: Give at least one check, e.g. regex:\\bParis\\b or must_call:python.",
    ]);
    expect("problems" in evalSetWrite("s", "ada", "", []) && evalSetWrite("s", "ada", "", [])).toBeTruthy();
  });
});

describe("eval results", () => {
  const set = { set_id: "regress", twin_id: "ada", description: "", created_by: "u", created_at: "", cases: [{ case_id: "c1", message: "capital of France?" }] } as unknown as EvalSet;
  const result = {
    run_id: "r1", set_id: "regress", twin_id: "ada", prompt_version: 2, state: "done", passed: 1, failed: 1, pass_rate: 0.5, baseline_pass_rate: 1,
    cases: [
      { case_id: "c1", passed: true, baseline_passed: true, error: null },
      { case_id: "c2", passed: false, baseline_passed: true, error: null },
      { case_id: "c3", passed: false, baseline_passed: null, error: "timed out" },
    ],
  } as unknown as EvalResult;

  it("lines each case up with its recorded message and the current prompt", () => {
    const rows = caseRows(set, result);
    expect(rows.map((r) => [r.message, r.verdict, r.vsBaseline])).toEqual([
      ["capital of France?", "pass", "same as current"], ["", "fail", "regressed (passes with current)"], ["", "error", null],
    ]);
    expect(resultLine(result)).toBe("1 of 2 passed (50%) · current prompt 100%");
  });

  it("escapes ids in the runs' paths", () => {
    expect(runPath("a b", "r/1")).toBe("/v1/evals/a%20b/runs/r%2F1");
    expect(runPath("s")).toBe("/v1/evals/s/runs");
  });
});

describe("the eval on a self-improve approval", () => {
  it("holds approving back while the eval runs or is missing, and when it fails", () => {
    expect(evalVerdict(null, true)).toMatchObject({ tone: "waiting", blocks: true });
    expect(evalVerdict(summary({ state: "running", ok: null }), true)).toMatchObject({ tone: "running", blocks: true });
    const blocked = evalVerdict(summary(), true)!;
    expect(blocked).toMatchObject({ tone: "blocked", blocks: true });
    expect(blocked.text).toBe("4 of 5 passed (80%) · needs ≥ 90% · current prompt 100% · blocked: below the required pass rate");
    expect(evalVerdict(summary({ state: "failed", ok: null, error: "no such set" }), true)).toMatchObject({ tone: "failed", blocks: true, text: "The eval could not run: no such set" });
  });

  it("lets a passing eval, or one shown only, be approved", () => {
    expect(evalVerdict(summary({ passed: 5, pass_rate: 1, ok: true }), true)).toMatchObject({ tone: "ok", blocks: false });
    expect(evalVerdict(summary({ required: null, ok: true }), true)).toMatchObject({ tone: "shown", blocks: false, text: "4 of 5 passed (80%) · current prompt 100%" });
    expect(evalVerdict(null, false)).toBeNull();
  });

  it("knows an eval is pending from the request, the record's eval, or the twin's gate", () => {
    const gate = { eval_gate: { set_id: "regress", min_pass_rate: 0.9 } };
    expect(evalPending(approval({ eval_pending: true }), undefined)).toBe(true);
    expect(evalPending(approval({ eval_pending: false }), gate)).toBe(false);
    expect(evalPending(approval(), gate)).toBe(true);
    expect(evalPending(approval(), { eval_gate: null })).toBe(false);
    expect(evalPending(approval({ eval: summary() }), { eval_gate: null })).toBe(true);
    expect(evalPending(approval({ kind: "tool", eval_pending: true }), gate)).toBe(false);
  });
});

describe("eval gate setting", () => {
  it("reads a set and a percentage", () => {
    expect(gateOf("", "")).toEqual({ gate: null });
    expect(gateOf("regress", "")).toEqual({ gate: { set_id: "regress", min_pass_rate: null } });
    expect(gateOf("regress", "90")).toEqual({ gate: { set_id: "regress", min_pass_rate: 0.9 } });
    expect(gateOf("regress", "87.5%")).toEqual({ gate: { set_id: "regress", min_pass_rate: 0.875 } });
    expect(gateOf("", "90")).toEqual({ problem: "Pick the eval set the pass rate is for." });
    expect(gateOf("regress", "120")).toMatchObject({ problem: expect.stringMatching(/0 to 100/) });
    expect(gateOf("bad id", "")).toMatchObject({ problem: expect.stringMatching(/^Eval set/) });
    expect(gatePercent({ set_id: "r", min_pass_rate: 0.875 })).toBe("87.5");
    expect(gatePercent(null)).toBe("");
  });
});
