import { describe, expect, it } from "vitest";
import { addLocalUserMessage, applyFrame, isBusy, newSession, sessionCounts } from "./session";
import type { ServerFrame } from "./types";

const S = "s-1";
const ts = "2026-01-01T10:00:00Z";
const chatIn = (seq: number, job: string, message: string): ServerFrame => ({
  type: "event", seq, event_type: "chat.in", id: job, ts, session_id: S, job_id: job, causation_id: null, twin_id: "orchestrator", body: { message },
});
const status = (seq: number | null, job: string, s: string, details = ""): ServerFrame => ({
  type: "status_update", status: s, details, session_id: S, job_id: job, seq,
});
const chunk = (seq: number, job: string, text: string): ServerFrame => ({
  type: "message_chunk", id: `c${seq}`, content_chunk: text, is_final: false, session_id: S, job_id: job, seq,
});
const complete = (seq: number, job: string, content: string): ServerFrame => ({
  type: "complete_message", id: `m${seq}`, content, is_final: true, latency_ms: 12, source_memories: [{ id: "x", text: "t", score: 0.5, namespace: "default", kb: "mind", source: "runbook.pdf", page: 12, document_id: null, session_id: null }],
  issued_command: null, raw_orchestrator_decision: null, session_id: S, job_id: job, seq,
});

describe("session state from frames", () => {
  it("joins the optimistic message with its job and streams the answer", () => {
    const st = newSession(S);
    addLocalUserMessage(st, "hello");
    applyFrame(st, status(null, "j1", "queued"));
    expect(st.messages[0]!.jobId).toBe("j1");
    applyFrame(st, chatIn(1, "j1", "hello"));
    expect(st.messages).toHaveLength(1);
    applyFrame(st, status(2, "j1", "thinking", "decided ActionResponse"));
    expect(isBusy(st)).toBe(true);
    applyFrame(st, chunk(3, "j1", "Hel"));
    applyFrame(st, chunk(4, "j1", "lo"));
    expect(st.messages[1]!.text).toBe("Hello");
    expect(st.messages[1]!.streaming).toBe(true);
    applyFrame(st, complete(5, "j1", "Hello!"));
    expect(st.messages[1]!.text).toBe("Hello!");
    expect(st.messages[1]!.sources).toHaveLength(1);
    expect(isBusy(st)).toBe(false);
    expect(st.lastSeq).toBe(5);
  });

  it("ignores frames already seen, so a resume that overlaps adds nothing twice", () => {
    const st = newSession(S);
    applyFrame(st, chatIn(1, "j1", "a"));
    applyFrame(st, complete(2, "j1", "b"));
    expect(applyFrame(st, chatIn(1, "j1", "a"))).toBe(false);
    expect(applyFrame(st, complete(2, "j1", "b"))).toBe(false);
    expect(st.messages).toHaveLength(2);
  });

  it("rebuilds a conversation from a replay (a reload) and tracks approvals", () => {
    const st = newSession(S);
    applyFrame(st, chatIn(1, "j1", "search for x"));
    applyFrame(st, {
      type: "event", seq: 2, event_type: "approve.request", id: "e2", ts, session_id: S, job_id: "j1", causation_id: null, twin_id: "orchestrator",
      body: { approval_id: "a1", kind: "memory", action: { action_type: "ActionMemory", query: "x" }, summary: "q", reason: "r", policy: "p", expires_at: ts },
    });
    expect(st.approvals.get("a1")?.kind).toBe("memory");
    expect(st.jobs.get("j1")?.status).toBe("waiting_approval");
    applyFrame(st, {
      type: "event", seq: 3, event_type: "approve.decision", id: "e3", ts, session_id: S, job_id: "j1", causation_id: null, twin_id: "orchestrator",
      body: { approval_id: "a1", approved: false, decided_by: "u", reason: "no" },
    });
    expect(st.approvals.size).toBe(0);
    applyFrame(st, status(4, "j1", "completed"));
    expect(sessionCounts(st)).toEqual({ running: 0, failed: 0, completed: 1 });
    expect(st.timeline.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it("drops the open approval of a job that was cancelled", () => {
    const st = newSession(S);
    applyFrame(st, chatIn(1, "j1", "/ingest"));
    applyFrame(st, {
      type: "event", seq: 2, event_type: "approve.request", id: "e2", ts, session_id: S, job_id: "j1", causation_id: null, twin_id: "orchestrator",
      body: { approval_id: "a1", kind: "document", action: { action_type: "ActionMemory", query: "x" }, summary: "q", reason: "r", policy: "p", expires_at: ts },
    });
    expect(st.approvals.size).toBe(1);
    applyFrame(st, status(3, "j1", "cancelled", "cancelled by u"));
    expect(st.approvals.size).toBe(0);
  });

  it("never reopens a finished job on a late event", () => {
    const st = newSession(S);
    applyFrame(st, status(1, "j1", "failed"));
    applyFrame(st, status(2, "j1", "running"));
    expect(st.jobs.get("j1")?.status).toBe("failed");
  });

  it("keeps edge errors without a sequence as the session's last error", () => {
    const st = newSession(S);
    applyFrame(st, { type: "status_update", status: "error", details: "invalid message", session_id: S, job_id: null, seq: null });
    expect(st.lastError).toBe("invalid message");
  });

  it("marks an approval's answer approved or denied once decided, in either order", () => {
    const asking = (seq: number, job: string, approvalId: string): ServerFrame => ({
      ...(complete(seq, job, "needs approval") as Extract<ServerFrame, { type: "complete_message" }>),
      issued_command: { command: "execute_tool", tool_name: "shell", arguments: {}, approval_id: approvalId },
    });
    const decision = (seq: number, job: string, approvalId: string, approved: boolean): ServerFrame => ({
      type: "event", seq, event_type: "approve.decision", id: `d${seq}`, ts, session_id: S, job_id: job, causation_id: null,
      twin_id: "orchestrator", body: { approval_id: approvalId, approved, decided_by: "me" },
    });
    const st = newSession(S);
    applyFrame(st, asking(1, "j1", "a1"));
    expect(st.messages[0]!.decision).toBeNull();
    applyFrame(st, decision(2, "j1", "a1", false));
    expect(st.messages[0]!.decision).toBe("denied");
    applyFrame(st, decision(3, "j2", "a2", true));
    applyFrame(st, asking(4, "j2", "a2"));
    expect(st.messages[1]!.decision).toBe("approved");
    expect(st.messages[0]!.decision).toBe("denied");
  });
});

describe("a session's replay", () => {
  it("is the past until the edge says it resumed", () => {
    const st = newSession(S);
    expect(st.replaying).toBe(true);
    applyFrame(st, chatIn(1, "j1", "hi"));
    expect(st.replaying).toBe(true);
    // A job's own statuses say nothing about the replay.
    applyFrame(st, status(2, "j1", "thinking"));
    expect(st.replaying).toBe(true);
    applyFrame(st, { type: "status_update", status: "resumed", details: "replayed 2 events after 0 up to 2; live from here", session_id: S, job_id: null, seq: null });
    expect(st.replaying).toBe(false);
    expect(st.jobs.get("j1")?.status).not.toBe("completed");
  });
});
