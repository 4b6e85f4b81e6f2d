// Replay-based evals (GET/POST /v1/evals, bus_schemas/evals.py) and the eval a self-improve approval
// shows (ApprovalRecord.eval): pure and unit-tested.
import type { Approval, CaseResult, EvalCheck, EvalGate, EvalResult, EvalSet, EvalSummary, Twin } from "./types";

export type CheckKind = EvalCheck["kind"];
export const CHECK_KINDS: readonly CheckKind[] = ["exact", "regex", "must_call", "must_not_call", "must_ask_approval", "rubric"];
// bus_schemas/subjects.py TOKEN_RE: set and case ids.
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_CHECKS = 20;

export function percent(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}

/** One check per line, `kind` or `kind:value` (the CLI's `--check`); what is wrong, line by line. */
export function parseChecks(text: string): { checks: EvalCheck[]; problems: string[] } {
  const checks: EvalCheck[] = [];
  const problems: string[] = [];
  text.split("\n").map((l) => l.trim()).filter(Boolean).forEach((line) => {
    const at = line.indexOf(":");
    const kind = (at < 0 ? line : line.slice(0, at)).trim() as CheckKind;
    const value = at < 0 ? "" : line.slice(at + 1).trim();
    if (!CHECK_KINDS.includes(kind)) { problems.push(`“${line}”: the kind is one of ${CHECK_KINDS.join(", ")}.`); return; }
    if (kind === "must_ask_approval" && value) { problems.push(`“${line}”: must_ask_approval takes no value.`); return; }
    if (kind !== "must_ask_approval" && kind !== "exact" && !value) { problems.push(`“${line}”: ${kind} needs a value (${kind}:…).`); return; }
    if (value.length > 4000) { problems.push(`“${line.slice(0, 40)}…”: a check's value is at most 4,000 characters.`); return; }
    checks.push({ kind, value });
  });
  if (!checks.length && !problems.length) problems.push("Give at least one check, e.g. regex:\\bParis\\b or must_call:python.");
  if (checks.length > MAX_CHECKS) problems.push(`At most ${MAX_CHECKS} checks a case.`);
  return { checks, problems };
}

export function checkText(c: Pick<EvalCheck, "kind" | "value">): string {
  return c.value ? `${c.kind}:${c.value}` : c.kind;
}

/** A case as the form holds it: a recorded turn (its session; its job, or "" for the session's last). */
export interface CaseForm { session_id: string; job_id: string; checks: string }

/** POST /v1/evals's body (EvalSetWrite), or what is wrong with the form. */
export function evalSetWrite(setId: string, twinId: string, description: string, cases: CaseForm[]):
  { body: { set_id: string; twin_id: string; description: string; cases: { session_id: string; job_id: string | null; checks: EvalCheck[] }[] } } | { problems: string[] } {
  const problems: string[] = [];
  if (!TOKEN_PATTERN.test(setId.trim())) problems.push("Set id: 1-64 characters of A-Z a-z 0-9 _ -.");
  if (!cases.length) problems.push("Pick at least one recorded turn.");
  const out = cases.map((c, i) => {
    const n = `Turn ${i + 1}`;
    if (!TOKEN_PATTERN.test(c.session_id.trim())) problems.push(`${n}: a session id is 1-64 characters of A-Z a-z 0-9 _ -.`);
    if (c.job_id.trim() && !TOKEN_PATTERN.test(c.job_id.trim())) problems.push(`${n}: the job id is not a valid id.`);
    const parsed = parseChecks(c.checks);
    for (const p of parsed.problems) problems.push(`${n}: ${p}`);
    return { session_id: c.session_id.trim(), job_id: c.job_id.trim() || null, checks: parsed.checks };
  });
  if (description.length > 2000) problems.push("Description: at most 2,000 characters.");
  return problems.length ? { problems } : { body: { set_id: setId.trim(), twin_id: twinId, description, cases: out } };
}

export function evalsPath(twinId: string): string {
  return `/v1/evals?twin=${encodeURIComponent(twinId)}`;
}

export function setPath(setId: string): string {
  return `/v1/evals/${encodeURIComponent(setId)}`;
}

export function runPath(setId: string, runId?: string): string {
  return runId ? `${setPath(setId)}/runs/${encodeURIComponent(runId)}` : `${setPath(setId)}/runs`;
}

/** A stored result is final unless it says it is still running. */
export function finishedRun(r: EvalResult | null): boolean {
  return r !== null && r.state !== "running";
}

/** A result's rows: each case's outcome beside its recorded message. */
export function caseRows(set: EvalSet | null, r: EvalResult): { c: CaseResult; message: string; verdict: "pass" | "fail" | "error"; vsBaseline: string | null }[] {
  const messages = new Map((set?.cases ?? []).map((c) => [c.case_id, c.message]));
  return r.cases.map((c) => ({
    c, message: messages.get(c.case_id) ?? "",
    verdict: c.error ? "error" : c.passed ? "pass" : "fail",
    vsBaseline: c.baseline_passed === null ? null
      : c.baseline_passed === c.passed ? "same as current" : c.passed ? "fixed (fails with current)" : "regressed (passes with current)",
  }));
}

/** "4 of 5 passed (80%)", with the baseline when it ran. */
export function resultLine(r: Pick<EvalResult, "passed" | "failed" | "pass_rate" | "baseline_pass_rate">): string {
  const total = r.passed + r.failed;
  const base = r.baseline_pass_rate === null ? "" : ` · current prompt ${percent(r.baseline_pass_rate)}`;
  return `${r.passed} of ${total} passed (${percent(r.pass_rate)})${base}`;
}

/** Whether the approval waits for an eval: the request says so; a stored record (GET /v1/approvals
 * has no eval_pending) of a self-improvement of a twin with an eval gate does too. */
export function evalPending(a: Approval, twin: Pick<Twin, "eval_gate"> | undefined): boolean {
  if (a.kind !== "self_improve") return false;
  if (a.eval_pending === true || a.eval != null) return true;
  if (a.eval_pending === false) return false;
  return twin?.eval_gate != null;
}

export type EvalTone = "waiting" | "running" | "ok" | "blocked" | "failed" | "shown";

/** What the approval shows of its eval, and whether approving is held back by it (the planner and
 * the edge refuse an approval whose eval is pending or failed; a denial is always possible). */
export function evalVerdict(summary: EvalSummary | null | undefined, pending: boolean): { tone: EvalTone; text: string; blocks: boolean } | null {
  if (!summary) return pending ? { tone: "waiting", text: "The eval of this prompt has not started yet…", blocks: true } : null;
  const need = summary.required === null ? "" : ` · needs ≥ ${percent(summary.required)}`;
  const base = summary.baseline_pass_rate === null ? "" : ` · current prompt ${percent(summary.baseline_pass_rate)}`;
  if (summary.state === "running") return { tone: "running", text: `Eval set ${summary.set_id} running…${need}`, blocks: true };
  if (summary.state === "failed") {
    return { tone: "failed", text: `The eval could not run${summary.error ? `: ${summary.error}` : ""}`, blocks: pending || summary.ok !== true };
  }
  const line = `${summary.passed} of ${summary.total} passed (${percent(summary.pass_rate)})${need}${base}`;
  if (summary.ok === false) return { tone: "blocked", text: `${line} · blocked: below the required pass rate`, blocks: true };
  if (summary.ok === true) return { tone: summary.required === null ? "shown" : "ok", text: summary.required === null ? line : `${line} · ok`, blocks: false };
  return { tone: "running", text: line, blocks: pending };
}

/** The twin settings' eval gate as typed: a set and a pass rate in percent ("" for none). */
export function gateOf(setId: string, minPercent: string): { gate: EvalGate | null } | { problem: string } {
  const id = setId.trim();
  if (!id) return minPercent.trim() ? { problem: "Pick the eval set the pass rate is for." } : { gate: null };
  if (!TOKEN_PATTERN.test(id)) return { problem: "Eval set: 1-64 characters of A-Z a-z 0-9 _ -." };
  if (!minPercent.trim()) return { gate: { set_id: id, min_pass_rate: null } };
  const n = Number(minPercent.replace("%", "").trim());
  if (!Number.isFinite(n) || n < 0 || n > 100) return { problem: "Minimum pass rate: a percentage from 0 to 100." };
  return { gate: { set_id: id, min_pass_rate: Math.round(n * 10) / 1000 } };
}

export function gatePercent(gate: EvalGate | null): string {
  return gate?.min_pass_rate == null ? "" : String(Math.round(gate.min_pass_rate * 1000) / 10);
}
