// The shapes the UI exchanges with the edge. The bus shapes come from ./generated/bus.ts, generated
// from bus_schemas (`make ui-types`; tests/test_ui_types.py fails when it is out of date), so they
// cannot drift from the Python models; only what the UI puts together itself is written here.
import type {
  ApprovalRecord, ApprovalRequest, CompleteMessage, EventFrame, MessageChunk, PromptVersion, StatusUpdate,
  TwinSettings as TwinSettingsAsSent,
} from "./generated/bus";

export type {
  Action, ApprovalKind, CompleteMessage, McpToolShown, EventFrame, HostSeen, HostsFrame, IssuedCommand, LogLevel, MessageChunk,
  MetricsFrame, SourceMemory, StatusUpdate, TelemetrySample,
} from "./generated/bus";
export type { JobLog as JobLogBody, TwinView as Twin } from "./generated/bus";

export type ServerFrame = CompleteMessage | MessageChunk | StatusUpdate | EventFrame;

// An approval as the UI holds it: from an approve.request event (the body, plus the envelope's ids)
// or from GET /v1/approvals (the stored record, which adds when it was made and its state).
export type Approval = ApprovalRequest & Pick<ApprovalRecord, "session_id" | "job_id" | "twin_id"> &
  Partial<Pick<ApprovalRecord, "created_at" | "state">>;

// What a person may set on a twin, as the settings form holds it: the edge fills in a namespace the
// form leaves out (the served twin, `Twin`, always has one).
export type TwinSettings = Omit<TwinSettingsAsSent, "memory_namespace"> &
  Partial<Pick<TwinSettingsAsSent, "memory_namespace">>;

// GET /v1/twins/{id}/prompt/versions lists the versions without their prompt text.
export type PromptVersionMeta = Omit<PromptVersion, "prompt">;

// records/blueprints.py: starter prompts, a plain dict rather than a bus model.
export interface Blueprint { name: string; format: string; template: string }
