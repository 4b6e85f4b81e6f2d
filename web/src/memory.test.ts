import { describe, expect, it } from "vitest";
import { approvalChanges, citationLabel, historyOf, memoryListPath, NO_FILTERS, provenance } from "./memory";
import { applyFrame, newSession } from "./session";
import type { MemoryRecordOut, ServerFrame, UploadReply } from "./types";
import { fileState, newEntry, progressOf } from "./uploads";

const src = { id: "m1", source: null, page: null, session_id: null, namespace: null, kb: null };

describe("citations", () => {
  it("names the file and page, else the session, else where it is kept", () => {
    expect(citationLabel({ ...src, source: "runbook.pdf", page: 12 })).toBe("runbook.pdf p. 12");
    expect(citationLabel({ ...src, source: "notes.docx" })).toBe("notes.docx");
    expect(citationLabel({ ...src, source: "session s-1", session_id: "s-1" })).toBe("session s-1");
    expect(citationLabel({ ...src, session_id: "s-2" })).toBe("session s-2");
    expect(citationLabel({ ...src, namespace: "ops", kb: "domain" })).toBe("ops/domain");
    expect(citationLabel(src)).toBe("m1");
  });
});

describe("approval changes", () => {
  const proposed = { text: "the VPN gateway is vpn-2", namespace: null, kb: "mind" };
  it("sends nothing when nothing changed", () => {
    expect(approvalChanges(proposed, { text: "the VPN gateway is vpn-2", namespace: "", kb: "mind" })).toBeNull();
  });
  it("sends only what the person changed", () => {
    expect(approvalChanges(proposed, { text: "the VPN gateway is vpn-3", namespace: "", kb: "mind" })).toEqual({ text: "the VPN gateway is vpn-3" });
    expect(approvalChanges(proposed, { text: "the VPN gateway is vpn-2", namespace: " ops ", kb: "domain" })).toEqual({ namespace: "ops", kb: "domain" });
  });
  it("never sends an emptied text as a change", () => {
    expect(approvalChanges(proposed, { text: "  ", namespace: "", kb: "mind" })).toBeNull();
  });
});

describe("memory list", () => {
  it("asks for one page with only the filters set", () => {
    expect(memoryListPath(NO_FILTERS, 0, 20)).toBe("/v1/memory?offset=0&limit=20");
    const path = memoryListPath({ ...NO_FILTERS, namespace: "ops", kb: "domain", source: "runbook", approvedBy: "alice", pinned: true, since: "2026-01-02", until: "2026-01-02" }, 40, 20);
    const q = new URL(path, "http://x").searchParams;
    expect(q.get("namespace")).toBe("ops");
    expect(q.get("kb")).toBe("domain");
    expect(q.get("source")).toBe("runbook");
    expect(q.get("approved_by")).toBe("alice");
    expect(q.get("pinned")).toBe("true");
    expect(Number(q.get("until")) - Number(q.get("since"))).toBe(86400);
    expect(Number(q.get("since"))).toBe(Date.UTC(2026, 0, 2) / 1000);
    expect(q.get("offset")).toBe("40");
  });
});

describe("a memory's provenance", () => {
  const memory: MemoryRecordOut = {
    id: "m2", text: "restart the pump", kb: "domain", namespace: "ops", source: "runbook.pdf", created_at: 1_700_000_000,
    metadata: {
      kind: "document", filename: "runbook.pdf", page: 12, document_id: "doc-1", session_id: "s-1", approval_id: "a-1",
      approved_by: "alice", twin_id: "orchestrator", version: 2, pinned: false,
      history: [{ text: "restart the pumps", edited_at: 1_700_000_100, edited_by: "alice" }, { bogus: true }],
    },
  };
  it("lists what is known, by name", () => {
    const rows = Object.fromEntries(provenance(memory).map((p) => [p.label, p.value]));
    expect(rows).toMatchObject({ File: "runbook.pdf", Page: "12", Session: "s-1", Approval: "a-1", "Approved by": "alice", Twin: "orchestrator", Version: "2" });
    expect(rows.Why).toBeUndefined();
  });
  it("keeps the well-formed earlier versions", () => {
    expect(historyOf(memory).map((h) => h.text)).toEqual(["restart the pumps"]);
  });
});

describe("an upload's state", () => {
  const S = "s-1";
  const reply: UploadReply = {
    document: { document_id: "doc-1", digest: "d".repeat(64), filename: "a.pdf", size: 10, content_type: null },
    duplicate: false, session_id: S, job_id: "j1", approval_id: "a1", status: "awaiting_approval",
  };
  const decision = (seq: number, approved: boolean): ServerFrame => ({
    type: "event", seq, event_type: "approve.decision", id: `d${seq}`, ts: "2026-01-01T10:00:00Z", session_id: S, job_id: "j1",
    causation_id: null, twin_id: "orchestrator", body: { approval_id: "a1", approved },
  });
  const status = (seq: number, s: string, details = ""): ServerFrame => ({ type: "status_update", status: s, details, session_id: S, job_id: "j1", seq });

  it("goes uploading, waiting for approval, storing, stored", () => {
    const st = newSession(S);
    const entry = newEntry({ name: "a.pdf", size: 10 }, S);
    expect(fileState(entry, st).state).toBe("uploading");
    entry.phase = "sent";
    entry.reply = reply;
    expect(fileState(entry, st).label).toBe("waiting for approval");
    applyFrame(st, decision(1, true));
    expect(fileState(entry, st).state).toBe("storing");
    applyFrame(st, status(2, "completed", "stored 12 chunks"));
    expect(fileState(entry, st)).toMatchObject({ state: "stored", detail: "stored 12 chunks" });
  });
  it("says a refused upload, a denied one and a failed job", () => {
    const entry = newEntry({ name: "big.pdf", size: 10 }, S);
    entry.phase = "failed";
    entry.error = "file too large";
    expect(fileState(entry, newSession(S))).toMatchObject({ state: "failed", detail: "file too large" });
    const denied = { ...newEntry({ name: "a.pdf", size: 1 }, S), phase: "sent" as const, reply };
    const st = newSession(S);
    applyFrame(st, decision(1, false));
    expect(fileState(denied, st).state).toBe("denied");
    const broken = { ...newEntry({ name: "x.docx", size: 1 }, S), phase: "sent" as const, reply: { ...reply, approval_id: null, status: "reading" as const } };
    const st2 = newSession(S);
    expect(fileState(broken, st2).state).toBe("reading");
    applyFrame(st2, status(1, "error", "unreadable: the file is corrupted"));
    applyFrame(st2, status(2, "failed"));
    expect(fileState(broken, st2)).toMatchObject({ state: "failed", detail: "unreadable: the file is corrupted" });
    expect(fileState({ ...broken, reply: { ...reply, status: "failed", error: "scanned PDF" } }, st2).detail).toBe("scanned PDF");
    // A job that ended without asking approval stored nothing: its answer says why.
    const st3 = newSession(S);
    applyFrame(st3, { type: "complete_message", id: "m1", content: "Could not read broken.pdf: not a PDF", is_final: true, latency_ms: 5,
      source_memories: [], issued_command: null, raw_orchestrator_decision: null, session_id: S, job_id: "j1", seq: 1 });
    expect(fileState(broken, st3)).toMatchObject({ state: "failed", detail: "Could not read broken.pdf: not a PDF" });
    expect(fileState({ ...broken, reply: { ...reply, approval_id: null, status: "completed" } }, newSession(S)).state).toBe("failed");
  });
  it("reads progress from the job log", () => {
    const frame = { type: "event" as const, seq: 3, event_type: "job.log", id: "l3", ts: "", session_id: S, job_id: "j1", causation_id: null, twin_id: null,
      body: { level: "memory", message: "embedded 512/2000 chunks", service: "memory_worker", status: null, progress: 0.256 } };
    expect(progressOf(frame)).toEqual(["j1", 0.256, "embedded 512/2000 chunks"]);
    expect(progressOf({ ...frame, body: { ...frame.body, progress: null } })).toBeNull();
    expect(progressOf({ ...frame, event_type: "chat.in" })).toBeNull();
  });
});
