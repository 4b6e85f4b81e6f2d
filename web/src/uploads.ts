// Files sent to POST /v1/documents from the chat or the Mind view, and what became of each: told from
// the upload's reply and the session's own frames (its job, its approval). Pure logic, no DOM.
import type { SessionState } from "./session";
import type { EventFrame, JobLogBody, UploadReply } from "./types";

export interface FileEntry {
  key: string;
  name: string;
  size: number;
  sessionId: string;
  /** The HTTP request: in flight, answered, or refused (then `error`). */
  phase: "uploading" | "sent" | "failed";
  error: string | null;
  reply: UploadReply | null;
  /** The job log's last progress for the document's job (0..1), and its line. */
  progress: number | null;
  progressLine: string;
}

export type FileStateName = "uploading" | "reading" | "awaiting_approval" | "storing" | "stored" | "denied" | "failed";
export interface FileState { state: FileStateName; label: string; detail: string }

const LABELS: Record<FileStateName, string> = {
  uploading: "uploading", reading: "reading", awaiting_approval: "waiting for approval", storing: "storing",
  stored: "stored", denied: "denied", failed: "failed",
};

let counter = 0;
export function newEntry(file: { name: string; size: number }, sessionId: string): FileEntry {
  return {
    key: `f-${++counter}`, name: file.name, size: file.size, sessionId, phase: "uploading", error: null, reply: null,
    progress: null, progressLine: "",
  };
}

const state = (s: FileStateName, detail = ""): FileState => ({ state: s, label: LABELS[s], detail });

/** The approval of the entry's job: the one the reply named, else one seen live for the job. */
function approvalOf(entry: FileEntry, session: SessionState | undefined): string | null {
  const reply = entry.reply;
  if (!reply) return null;
  if (reply.approval_id) return reply.approval_id;
  for (const a of session?.approvals.values() ?? []) if (a.job_id === reply.job_id && a.kind === "document") return a.approval_id;
  return null;
}

function answerOf(session: SessionState | undefined, jobId: string): string {
  const msg = session?.messages.find((m) => m.role === "twin" && m.jobId === jobId && !m.streaming);
  return msg?.text ?? "";
}

export function fileState(entry: FileEntry, session: SessionState | undefined): FileState {
  if (entry.phase === "uploading") return state("uploading");
  if (entry.phase === "failed") return state("failed", entry.error ?? "");
  const reply = entry.reply!;
  if (reply.status === "failed") return state("failed", reply.error ?? "");
  const job = session?.jobs.get(reply.job_id);
  const approvalId = approvalOf(entry, session);
  const decision = approvalId ? session?.decisions.get(approvalId) : undefined;
  if (decision === false) return state("denied");
  if (job?.status === "failed") return state("failed", job.lastDetail);
  if (job?.status === "cancelled") return state("failed", "cancelled");
  if (job?.status === "completed" || reply.status === "completed") {
    // A document job stores only through its approval: one that ended without asking stored nothing
    // (the file could not be read); its answer says why.
    if (!approvalId) return state("failed", answerOf(session, reply.job_id) || job?.lastDetail || "ended without storing anything");
    if (job?.status === "completed") return state("stored", entry.progressLine || job.lastDetail);
  }
  if (decision === true) return state("storing", entry.progressLine);
  if (approvalId || job?.status === "waiting_approval") return state("awaiting_approval");
  return state("reading", entry.progressLine);
}

export function finished(s: FileState): boolean {
  return s.state === "stored" || s.state === "denied" || s.state === "failed";
}

/** A job log line's progress from an SSE event frame: [job id, progress, message], or null. */
export function progressOf(frame: EventFrame): [string, number, string] | null {
  if (frame.event_type !== "job.log" || !frame.job_id) return null;
  const body = frame.body as unknown as JobLogBody;
  if (typeof body.progress !== "number") return null;
  return [frame.job_id, Math.max(0, Math.min(1, body.progress)), body.message];
}
