// Wire shapes, mirrored from bus_schemas (web.py, chat.py, approval.py, twin.py, telemetry.py, joblog.py).

export interface SourceMemory { id: string; text: string; score: number }

export type IssuedCommand =
  | { command: "show_memory_page"; query: string; memory_id?: string | null; approval_id?: string | null }
  | { command: "execute_tool"; tool_name: string; arguments: Record<string, unknown>; approval_id?: string | null }
  | { command: "prompt_for_config"; config_key: string; prompt: string; approval_id?: string | null }
  | { command: "build_tool"; tool_name: string; language: string; approval_id?: string | null }
  | { command: "self_improve"; diff: string; approval_id?: string | null };

export interface CompleteMessage {
  type: "complete_message"; id: string; content: string; is_final: boolean; latency_ms: number | null;
  source_memories: SourceMemory[]; issued_command: IssuedCommand | null; raw_orchestrator_decision: string | null;
  session_id: string; job_id: string | null; seq: number | null;
}
export interface MessageChunk {
  type: "message_chunk"; id: string; content_chunk: string; is_final: boolean; session_id: string;
  job_id: string | null; seq: number | null;
}
export interface StatusUpdate {
  type: "status_update"; status: string; details: string | null; session_id: string | null;
  job_id: string | null; seq: number | null;
}
export interface EventFrame {
  type: "event"; seq: number; event_type: string; id: string; ts: string; session_id: string;
  job_id: string | null; causation_id: string | null; twin_id: string | null; body: Record<string, unknown>;
}
export type ServerFrame = CompleteMessage | MessageChunk | StatusUpdate | EventFrame;

export type Action =
  | { action_type: "ActionMemory"; query: string; namespace?: string | null; top_k?: number | null }
  | { action_type: "ActionTool"; tool_name: string; args: Record<string, unknown> }
  | { action_type: "ActionBuildTool"; tool_name: string; language: string; code: string; description: string }
  | { action_type: "ActionSelfImprove"; new_prompt: string; rationale: string }
  | { action_type: "ActionResponse"; content: string };

export type ApprovalKind = "memory" | "tool" | "build" | "self_improve";

export interface Approval {
  approval_id: string; session_id: string; job_id: string; twin_id: string; kind: ApprovalKind; action: Action;
  summary: string; reason: string; policy: string; expires_at: string; created_at?: string; state?: string;
}

export type LogLevel = "plan" | "tool" | "memory" | "error" | "warn" | "info";
export interface JobLogBody { level: LogLevel; message: string; service: string; status: string | null; progress: number | null }

export interface TwinSettings {
  codename: string; designation: string; mission: string; avatar: string | null; directive_logic: string;
  provider: string | null; model: string | null; base_url: string | null; temperature: number; token_limit: number;
  step_limit: number; approval_timeout_s: number; allowed_tools: string[]; always_allow: string[];
  code_generation: boolean; memory_namespace?: string;
}
export interface Twin extends TwinSettings {
  id: string; has_api_key: boolean; status: "idle" | "thinking" | "busy"; created_at: string; updated_at: string;
}
export interface Blueprint { name: string; format: string; template: string }

export interface PromptVersionMeta { version: number; rationale: string; author: string; created_at: string }

export interface TelemetrySample {
  host_id: string; interval_s: number | null; uptime_s: number; process_count: number;
  cpu: { count: number; percent: number | null; per_core: (number | null)[]; load_avg: [number, number, number] };
  memory: { total_bytes: number; available_bytes: number; used_bytes: number; percent: number };
  swap: { total_bytes: number; used_bytes: number; percent: number };
  network: { total: { rx_bytes_per_s: number | null; tx_bytes_per_s: number | null } };
  gpu: {
    available: boolean; reason: string | null;
    devices: { index: number; name: string | null; utilization_percent: number | null; memory_utilization_percent: number | null }[];
  };
}
export interface MetricsFrame { seq: number; host_id: string; ts: string; sample: TelemetrySample }
export interface HostSeen { host_id: string; last_seen: string; silent: boolean }
export interface HostsFrame { hosts: HostSeen[]; changed: string | null; change: "appeared" | "silent" | null }
