// The shapes the UI exchanges with the edge. The bus shapes come from ./generated/bus.ts, generated
// from bus_schemas (`make ui-types`; tests/test_ui_types.py fails when it is out of date), so they
// cannot drift from the Python models; only what the UI puts together itself is written here.
import type {
  ApprovalRecord, ApprovalRequest, Schedule, DocumentRef, EvalResult, EvalSet, CompleteMessage, EventFrame, MessageChunk, PromptVersion, StatusUpdate,
  TwinSettings as TwinSettingsAsSent, UsageReport,
} from "./generated/bus";

export type {
  Action, ActionBudget, ActionRemember, ActionStoreDocument, ApprovalKind, BudgetList, BudgetStatus, CaseResult, EvalCheck, EvalGate, EvalResult, EvalSet, EvalSummary, DocumentRef, ParsedDocument, CompleteMessage, McpToolShown, EventFrame, HostSeen, HostsFrame, IssuedCommand, LogLevel, MessageChunk,
  MetricsFrame, Schedule, ScheduleList, SourceMemory, StatusUpdate, TelemetrySample, UsageDay, UsageReport, UsageTotal,
} from "./generated/bus";
export type { JobLog as JobLogBody, TwinView as Twin } from "./generated/bus";

// GET /v1/usage?by=: how the report groups its totals.
export type UsageGrouping = UsageReport["by"];

export type ServerFrame = CompleteMessage | MessageChunk | StatusUpdate | EventFrame;

// An approval as the UI holds it: from an approve.request event (the body, plus the envelope's ids)
// or from GET /v1/approvals (the stored record, which adds when it was made, its state and the eval of
// a self-improvement, and has no eval_pending).
export type Approval = Omit<ApprovalRequest, "eval_pending"> & Partial<Pick<ApprovalRequest, "eval_pending">> &
  Pick<ApprovalRecord, "session_id" | "job_id" | "twin_id"> & Partial<Pick<ApprovalRecord, "created_at" | "state" | "eval">>;

// What a person may set on a twin, as the settings form holds it: the edge fills in a namespace the
// form leaves out (the served twin, `Twin`, always has one).
export type TwinSettings = Omit<TwinSettingsAsSent, "memory_namespace"> &
  Partial<Pick<TwinSettingsAsSent, "memory_namespace">>;

// GET /v1/twins/{id}/prompt/versions lists the versions without their prompt text.
export type PromptVersionMeta = Omit<PromptVersion, "prompt">;

// records/blueprints.py: starter prompts, a plain dict rather than a bus model.
export interface Blueprint { name: string; format: string; template: string }

// GET /v1/memory/{id}, GET /v1/memory (a page), PATCH /v1/memory/{id}: bus_schemas.memory.MemoryRecordOut
// (an edge reply, not a bus event, so not among the generated shapes). `metadata` holds the provenance
// keys every writer uses (issue 20's contract): kind, document_id, filename, page, chunk, session_id,
// job_id, twin_id, approval_id, approved_by, why, pinned, history, version.
export interface MemoryRecordOut {
  id: string; text: string; kb: string; namespace: string; source: string | null; created_at: number;
  metadata: Record<string, unknown>;
}
export interface MemoryPage { memories: MemoryRecordOut[]; next_offset: number | null }
export interface MemoryEdit { text: string; edited_at: number; edited_by: string }

// GET /v1/evals, GET /v1/evals/{set_id} (newest result first), the 202 of POST /v1/evals/{set_id}/runs:
// bus_schemas.evals EvalSetList, EvalSetView, EvalRunStarted (edge replies, not among the generated shapes).
export interface EvalSetList { sets: EvalSet[] }
export interface EvalSetView { set: EvalSet; results: EvalResult[] }
export interface EvalRunStarted { run_id: string; set_id: string; session_id: string }

// POST /v1/documents (multipart): the upload, its job and the approval it waits for.
export interface UploadReply {
  document: DocumentRef; duplicate: boolean; session_id: string; job_id: string;
  approval_id: string | null; status: "awaiting_approval" | "reading" | "completed" | "failed"; error?: string;
}

// bus_schemas.approval.ApprovalChanges: what the person changed before approving (only what changed);
// `limit` is a budget approval's "approve and raise".
export interface ApprovalChanges { text?: string; namespace?: string; kb?: string; limit?: number }
export const KNOWLEDGE_BASES = ["soul", "domain", "body", "heart", "mind"] as const;
export const NAMESPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

// POST /v1/schedules: bus_schemas.schedules.ScheduleWrite (what the form sends; a time zone only with
// a cron expression). GET /v1/schedules answers the generated ScheduleList.
export type ScheduleWrite = Pick<Schedule, "twin_id" | "session_id" | "message" | "spec"> & { time_zone?: string };
