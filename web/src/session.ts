// One chat session's state, built only from the frames the edge sends (live or replayed).
// Pure logic, no DOM: unit-tested with Vitest.
import { handoffOf, handoffOfLine, routedTwin, type Handoff } from "./agents";
import type { Approval, CompleteMessage, EventFrame, IssuedCommand, ServerFrame, SourceMemory, StatusUpdate } from "./types";

export interface ChatMessage {
  key: string;
  role: "user" | "twin" | "system";
  text: string;
  ts: string;
  jobId: string | null;
  streaming: boolean;
  sources: SourceMemory[];
  latencyMs: number | null;
  command: IssuedCommand | null;
  /** How the approval its command asks for was decided; null while it waits (or it asks none). */
  decision: "approved" | "denied" | null;
  seq: number | null;
  /** The id of the event behind it (chat.in or the final chat.out): search hits link to it. */
  eventId: string | null;
}

export const JOB_STATES = ["pending", "waiting_approval", "running", "completed", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];
const FINISHED = new Set<string>(["completed", "failed", "cancelled"]);

export interface JobView {
  jobId: string;
  message: string;
  status: JobState;
  decisions: number;
  startedAt: string;
  finishedAt: string | null;
  lastDetail: string;
  /** The twin whose job it is (from its events): a sub-job's is the twin asked. */
  twinId: string | null;
}

export interface TimelineEvent { seq: number; type: string; ts: string; jobId: string | null; label: string }

export interface SessionState {
  sessionId: string;
  lastSeq: number;
  messages: ChatMessage[];
  jobs: Map<string, JobView>;
  approvals: Map<string, Approval>;
  /** Approval id -> approved?, for every decision seen (one may arrive before the answer asking it). */
  decisions: Map<string, boolean>;
  timeline: TimelineEvent[];
  lastError: string | null;
  version: number;
  /** Until the edge says the replay is done ("resumed"): what arrives is the session's past, and an
   *  approval in it may be one its decision (next in the replay) has settled already. */
  replaying: boolean;
  /** The twins this session was handed to (ActionHandoff), oldest first. */
  handoffs: Handoff[];
}

const MAX_TIMELINE = 2000;
let localCounter = 0;

export function newSession(sessionId: string): SessionState {
  return { sessionId, lastSeq: 0, messages: [], jobs: new Map(), approvals: new Map(), decisions: new Map(), timeline: [], lastError: null, version: 0, replaying: true, handoffs: [] };
}

export function isBusy(state: SessionState): boolean {
  for (const job of state.jobs.values()) if (!FINISHED.has(job.status)) return true;
  return false;
}

export function addLocalUserMessage(state: SessionState, text: string): ChatMessage {
  const msg: ChatMessage = {
    key: `local-${++localCounter}`, role: "user", text, ts: new Date().toISOString(), jobId: null,
    streaming: false, sources: [], latencyMs: null, command: null, decision: null, seq: null, eventId: null,
  };
  state.messages.push(msg);
  state.version++;
  return msg;
}

function job(state: SessionState, jobId: string, ts: string): JobView {
  let view = state.jobs.get(jobId);
  if (!view) {
    view = { jobId, message: "", status: "pending", decisions: 0, startedAt: ts, finishedAt: null, lastDetail: "", twinId: null };
    state.jobs.set(jobId, view);
  }
  return view;
}

function setStatus(view: JobView, status: string, ts: string): void {
  if (!(JOB_STATES as readonly string[]).includes(status)) return;
  if (FINISHED.has(view.status) && !FINISHED.has(status)) return; // late events never reopen a job
  view.status = status as JobState;
  if (FINISHED.has(status) && !view.finishedAt) view.finishedAt = ts;
}

function twinMessage(state: SessionState, jobId: string | null, id: string, ts: string): ChatMessage {
  const found = jobId ? state.messages.find((m) => m.role === "twin" && m.jobId === jobId && m.streaming) : undefined;
  if (found) return found;
  const msg: ChatMessage = {
    key: id, role: "twin", text: "", ts, jobId, streaming: true, sources: [], latencyMs: null, command: null, decision: null, seq: null, eventId: null,
  };
  state.messages.push(msg);
  return msg;
}

function describeEvent(frame: EventFrame): string {
  const body = frame.body;
  switch (frame.event_type) {
    case "chat.in": return `message: ${String(body.message ?? "")}`;
    case "approve.request": return `approval asked (${String(body.kind)})`;
    case "approve.decision": return body.approved ? "approved" : "denied";
    default: {
      const h = handoffOf(frame);
      return h ? `handed to ${h.to}` : frame.event_type;
    }
  }
}

function onEvent(state: SessionState, frame: EventFrame): void {
  const body = frame.body;
  const seen = frame.job_id ? state.jobs.get(frame.job_id) : undefined;
  if (seen && frame.twin_id && !seen.twinId) seen.twinId = frame.twin_id;
  addHandoff(state, handoffOf(frame));
  if (frame.event_type === "chat.in") {
    const text = String(body.message ?? "");
    const jobId = frame.job_id ?? frame.id;
    const known = state.messages.find((m) => m.role === "user" && m.jobId === jobId)
      ?? state.messages.find((m) => m.role === "user" && m.jobId === null && m.text === text);
    if (known) {
      known.jobId = jobId;
      known.ts = frame.ts;
      known.seq = frame.seq;
      known.eventId = frame.id;
    } else {
      state.messages.push({
        key: frame.id, role: "user", text, ts: frame.ts, jobId, streaming: false, sources: [], latencyMs: null,
        command: null, decision: null, seq: frame.seq, eventId: frame.id,
      });
    }
    const view = job(state, jobId, frame.ts);
    view.message = text;
    view.startedAt = frame.ts;
    view.twinId = routedTwin(state.handoffs, frame.twin_id ?? null);
  } else if (frame.event_type === "approve.request") {
    const approval = { ...(body as unknown as Approval), session_id: frame.session_id, job_id: frame.job_id ?? "", twin_id: frame.twin_id ?? "" };
    state.approvals.set(approval.approval_id, approval);
    if (frame.job_id) setStatus(job(state, frame.job_id, frame.ts), "waiting_approval", frame.ts);
  } else if (frame.event_type === "approve.decision") {
    const approvalId = String(body.approval_id);
    state.approvals.delete(approvalId);
    state.decisions.set(approvalId, body.approved === true);
    for (const m of state.messages) if (m.command?.approval_id === approvalId) m.decision = decisionOf(state, approvalId);
    if (frame.job_id) job(state, frame.job_id, frame.ts).lastDetail = body.approved ? "approved" : `denied${body.reason ? `: ${String(body.reason)}` : ""}`;
  }
}

function addHandoff(state: SessionState, handoff: Handoff | null): void {
  if (handoff && !state.handoffs.some((h) => h.jobId === handoff.jobId && h.to === handoff.to)) state.handoffs.push(handoff);
}

function decisionOf(state: SessionState, approvalId: string | null): ChatMessage["decision"] {
  const approved = approvalId === null ? undefined : state.decisions.get(approvalId);
  return approved === undefined ? null : approved ? "approved" : "denied";
}

function onStatus(state: SessionState, frame: StatusUpdate, ts: string): void {
  if (frame.status === "resumed" || frame.status === "subscribed") { state.replaying = false; return; }
  if (frame.status === "error" && frame.seq === null) {
    state.lastError = frame.details ?? "error";
    // An error about a message not accepted: the optimistic message is marked.
    return;
  }
  if (!frame.job_id) return;
  addHandoff(state, handoffOfLine(frame.details, frame.job_id, ts));
  const view = job(state, frame.job_id, ts);
  if (frame.status === "queued") {
    const pending = state.messages.find((m) => m.role === "user" && m.jobId === null);
    if (pending) pending.jobId = frame.job_id;
  }
  if (frame.status === "thinking") view.decisions++;
  if (frame.details) view.lastDetail = frame.details;
  if (frame.status === "error") view.lastDetail = frame.details ?? "error";
  setStatus(view, frame.status, ts);
  // A finished job (cancelled, failed) has nothing left to approve: its open questions go.
  if (FINISHED.has(view.status)) for (const [id, a] of state.approvals) if (a.job_id === view.jobId) state.approvals.delete(id);
}

function onComplete(state: SessionState, frame: CompleteMessage, ts: string): void {
  const msg = twinMessage(state, frame.job_id, frame.id, ts);
  msg.text = frame.content;
  msg.streaming = false;
  msg.sources = frame.source_memories ?? [];
  msg.latencyMs = frame.latency_ms;
  msg.command = frame.issued_command;
  msg.decision = decisionOf(state, frame.issued_command?.approval_id ?? null);
  msg.seq = frame.seq;
  msg.key = frame.id;
  msg.eventId = frame.id;
  if (frame.job_id) {
    const view = job(state, frame.job_id, ts);
    // An answer that carries an approval command is the seed's "awaiting approval" notice, not the end.
    if (!frame.issued_command?.approval_id && view.status !== "waiting_approval") setStatus(view, "completed", ts);
  }
}

/** Apply one server frame. Returns false when it was a duplicate (its seq already seen). */
export function applyFrame(state: SessionState, frame: ServerFrame, now: string = new Date().toISOString()): boolean {
  const seq = frame.seq ?? null;
  if (seq !== null) {
    if (seq <= state.lastSeq) return false;
    state.lastSeq = seq;
  }
  const ts = frame.type === "event" ? frame.ts : now;
  switch (frame.type) {
    case "event":
      onEvent(state, frame);
      break;
    case "status_update":
      onStatus(state, frame, ts);
      break;
    case "message_chunk": {
      const msg = twinMessage(state, frame.job_id, frame.id, ts);
      msg.text += frame.content_chunk;
      break;
    }
    case "complete_message":
      onComplete(state, frame, ts);
      break;
  }
  if (seq !== null) {
    const label = frame.type === "event" ? describeEvent(frame)
      : frame.type === "status_update" ? `${frame.status}${frame.details ? `: ${frame.details}` : ""}`
      : frame.type === "complete_message" ? "answer" : "chunk";
    const type = frame.type === "event" ? frame.event_type : frame.type;
    if (frame.type !== "message_chunk") {
      state.timeline.push({ seq, type, ts, jobId: frame.job_id ?? null, label });
      if (state.timeline.length > MAX_TIMELINE) state.timeline.splice(0, state.timeline.length - MAX_TIMELINE);
    }
  }
  state.version++;
  return true;
}

export function sessionCounts(state: SessionState): { running: number; failed: number; completed: number } {
  let running = 0, failed = 0, completed = 0;
  for (const j of state.jobs.values()) {
    if (j.status === "failed") failed++;
    else if (j.status === "completed") completed++;
    else if (j.status !== "cancelled") running++;
  }
  return { running, failed, completed };
}
