import { describe, expect, it } from "vitest";
import { chainText, currentTwin, handoffOfLine, routedTwin, fanoutProblem, fanoutProgress, fanoutSession, gatherAnswers, handoffOf, keepFanout, newFanout, readFanouts, treeOrder, type JobTreeFields } from "./agents";
import { applyFrame, newSession, type JobView, type SessionState } from "./session";
import type { EventFrame } from "./types";

const jv = (jobId: string): JobView => ({ jobId, message: jobId, status: "running", decisions: 0, startedAt: "2026-12-04T08:00:00Z", finishedAt: null, lastDetail: "", twinId: null });
const ev = (over: Partial<EventFrame> & { body?: Record<string, unknown> }): EventFrame => ({
  type: "event", id: "e1", event_type: "chat.in", session_id: "s", job_id: "j1", twin_id: "ops", ts: "2026-12-04T08:00:00Z", seq: 1, body: {}, ...over,
} as EventFrame);

describe("chain of twins", () => {
  it("names who asked whom, root first, and nothing for a person's job", () => {
    expect(chainText(["ops"], "reviewer")).toBe("ops → reviewer");
    expect(chainText(["coordinator", "ops"], "reviewer")).toBe("coordinator → ops → reviewer");
    expect(chainText([], "ops")).toBeNull();
    expect(chainText(undefined, "ops")).toBeNull();
  });
});

describe("job tree", () => {
  it("puts each sub-job under the job that asked it", () => {
    const jobs = [jv("a"), jv("b"), jv("a1"), jv("a1x"), jv("a2")];
    const recs = new Map<string, JobTreeFields>([["a1", { parent_job_id: "a" }], ["a2", { parent_job_id: "a" }], ["a1x", { parent_job_id: "a1" }]]);
    expect(treeOrder(jobs, recs).map((r) => `${r.job.jobId}:${r.depth}`)).toEqual(["a:0", "a1:1", "a1x:2", "a2:1", "b:0"]);
  });

  it("lists sub-jobs oldest first under a newest-first list", () => {
    const at = (id: string, ts: string) => ({ ...jv(id), startedAt: ts });
    const jobs = [at("b", "2026-12-04T08:00:09Z"), at("a2", "2026-12-04T08:00:05Z"), at("a1", "2026-12-04T08:00:02Z"), at("a", "2026-12-04T08:00:01Z")];
    const recs = new Map<string, JobTreeFields>([["a1", { parent_job_id: "a" }], ["a2", { parent_job_id: "a" }]]);
    expect(treeOrder(jobs, recs).map((r) => r.job.jobId)).toEqual(["b", "a", "a1", "a2"]);
  });

  it("keeps a sub-job whose parent is elsewhere at the top, and survives a cycle", () => {
    const orphan = treeOrder([jv("c")], new Map([["c", { parent_job_id: "gone" }]]));
    expect(orphan).toEqual([{ job: jv("c"), depth: 0, parent: null }]);
    const cycle = treeOrder([jv("x"), jv("y")], new Map([["x", { parent_job_id: "y" }], ["y", { parent_job_id: "x" }]]));
    expect(cycle.map((r) => r.job.jobId).sort()).toEqual(["x", "y"]);
    expect(treeOrder([jv("self")], new Map([["self", { parent_job_id: "self" }]]))).toHaveLength(1);
  });
});

describe("handoffs", () => {
  it("reads the target whichever field names it", () => {
    expect(handoffOf(ev({ event_type: "session.handoff", body: { to_twin: "billing", from_twin: "support", reason: "a refund" } })))
      .toMatchObject({ to: "billing", from: "support", reason: "a refund", jobId: "j1" });
    expect(handoffOf(ev({ event_type: "agent.handoff", twin_id: "support", body: { action: { twin_id: "billing" } } })))
      .toMatchObject({ to: "billing", from: "support", reason: null });
    expect(handoffOf(ev({ event_type: "chat.in", body: { twin_id: "billing" } }))).toBeNull();
    expect(handoffOf(ev({ event_type: "session.handoff", body: { to_twin: 5 } }))).toBeNull();
  });

  it("shows the session's twin after a handoff, once per event replayed", () => {
    const st: SessionState = newSession("s");
    const h = ev({ event_type: "session.handoff", seq: 2, body: { to_twin: "billing" } });
    applyFrame(st, h);
    applyFrame(st, { ...h, seq: 3 });
    expect(st.handoffs).toHaveLength(1);
    expect(currentTwin(st.handoffs, "support")).toBe("billing");
    expect(currentTwin([], "support")).toBe("support");
    expect(st.timeline.at(-1)?.label).toBe("handed to billing");
  });

  it("reads the planner's handoff line from a status frame, and nothing else", () => {
    const st = newSession("s");
    const status = (seq: number, details: string) => ({ type: "status_update", status: "running", details, session_id: "s", job_id: "j1", seq } as never);
    applyFrame(st, status(1, "handoff: the session now talks to billing, handed over by support (a refund question)"));
    applyFrame(st, status(2, "handoff: the session now talks to billing, handed over by support (a refund question)"));
    expect(st.handoffs).toEqual([{ to: "billing", from: "support", reason: "a refund question", jobId: "j1", ts: expect.any(String) }]);
    expect(handoffOfLine("handoff: the session now talks to billing, handed over by support", null, "")).toMatchObject({ to: "billing", reason: null });
    expect(handoffOfLine("handoff: the session now talks to bil ling, handed over by support", null, "")).toBeNull();
    expect(handoffOfLine("the session now talks to billing", null, "")).toBeNull();
    expect(handoffOfLine(null, null, "")).toBeNull();
  });

  it("routes a message as the planner does after handoffs", () => {
    const h = (to: string, from: string) => ({ to, from, reason: null, jobId: null, ts: "" });
    expect(routedTwin([], "support")).toBe("support");
    expect(routedTwin([h("billing", "support")], "support")).toBe("billing");
    expect(routedTwin([h("billing", "support")], null)).toBe("billing");
    expect(routedTwin([h("billing", "support")], "other")).toBe("other");
    // Handed back: a message to billing now goes to support, one to support stays.
    expect(routedTwin([h("billing", "support"), h("support", "billing")], "billing")).toBe("support");
    expect(routedTwin([h("billing", "support"), h("support", "billing")], "support")).toBe("support");
    const st = newSession("s");
    applyFrame(st, { type: "status_update", status: "running", details: "handoff: the session now talks to billing, handed over by support", session_id: "s", job_id: "j0", seq: 1 } as never);
    applyFrame(st, ev({ id: "j9", job_id: "j9", twin_id: "support", seq: 2, body: { message: "hello again" } }));
    expect(st.jobs.get("j9")?.twinId).toBe("billing");
  });

  it("knows each job's twin from its events", () => {
    const st = newSession("s");
    applyFrame(st, ev({ id: "j1", job_id: "j1", twin_id: "ops", body: { message: "hi" } }));
    applyFrame(st, ev({ id: "e2", seq: 2, job_id: "j2", twin_id: "reviewer", event_type: "plan" }));
    expect(st.jobs.get("j1")?.twinId).toBe("ops");
    expect(st.jobs.has("j2")).toBe(false); // an event alone never opens a job (it would look busy forever)
  });
});

describe("fan-out", () => {
  it("derives one session per twin, within the edge's id length", () => {
    const f = newFanout("  status report ", ["hunter", "scanner", "hunter"], new Date("2026-12-04T08:00:00Z"), () => 0.5);
    expect(f.directive).toBe("status report");
    expect(f.twins).toEqual(["hunter", "scanner"]);
    expect(fanoutSession(f.id, "hunter")).toBe(`fan-${f.id}-hunter`);
    expect(fanoutSession(f.id, "x".repeat(200)).length).toBe(128);
  });

  it("refuses an empty directive or no twin", () => {
    expect(fanoutProblem(" ", ["a"])).toMatch(/directive/);
    expect(fanoutProblem("go", [])).toMatch(/twin/);
    expect(fanoutProblem("go", Array.from({ length: 13 }, (_, i) => `t${i}`))).toMatch(/at most 12/);
    expect(fanoutProblem("go", ["a"])).toBeNull();
  });

  it("gathers each twin's answer from its own session", () => {
    const f = { id: "f1", directive: "report", twins: ["hunter", "scanner", "idle"], at: "" };
    const hunter = newSession(fanoutSession("f1", "hunter"));
    applyFrame(hunter, ev({ id: "jh", job_id: "jh", twin_id: "hunter", session_id: hunter.sessionId, body: { message: "report" } }));
    applyFrame(hunter, { type: "complete_message", id: "c1", session_id: hunter.sessionId, job_id: "jh", content: "all quiet", seq: 2, latency_ms: 5, source_memories: [], issued_command: null } as never);
    const scanner = newSession(fanoutSession("f1", "scanner"));
    applyFrame(scanner, ev({ id: "js", job_id: "js", twin_id: "scanner", session_id: scanner.sessionId, body: { message: "report" } }));
    const answers = gatherAnswers(f, new Map([[hunter.sessionId, hunter], [scanner.sessionId, scanner]]));
    expect(answers.map((a) => [a.twinId, a.state, a.answer])).toEqual([["hunter", "completed", "all quiet"], ["scanner", "pending", null], ["idle", "sending", null]]);
    expect(fanoutProgress(answers)).toBe("1 of 3 answered");
  });

  it("keeps the last ten fan-outs and ignores a tampered store", () => {
    let list = readFanouts(null);
    for (let i = 0; i < 12; i++) list = keepFanout(list, { id: `f${i}`, directive: "d", twins: ["a"], at: "" });
    expect(list.map((f) => f.id).slice(0, 2)).toEqual(["f11", "f10"]);
    expect(list).toHaveLength(10);
    expect(readFanouts(JSON.stringify(list))).toEqual(list);
    expect(readFanouts("{not json")).toEqual([]);
    expect(readFanouts(JSON.stringify([{ id: 1 }, { id: "ok", directive: "d", twins: [3] }, "x"]))).toEqual([]);
  });
});
