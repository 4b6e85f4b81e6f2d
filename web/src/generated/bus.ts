// Generated from bus_schemas (python -m bus_schemas ui-schema) by scripts/bus-types.mjs: do not edit.
// `make ui-types` writes it again; tests/test_ui_types.py fails when it is out of date.

/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "Action".
 */
export type Action =
  | ActionMemory
  | ActionTool
  | ActionBuildTool
  | ActionSelfImprove
  | ActionRemember
  | ActionReadDocument
  | ActionStoreDocument
  | ActionBudget
  | ActionAskTwin
  | ActionHandoff
  | ActionResponse;
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ApprovalKind".
 */
export type ApprovalKind = "memory" | "tool" | "build" | "self_improve" | "remember" | "document" | "budget" | "agent";
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "IssuedCommand".
 */
export type IssuedCommand = ShowMemoryPage | ExecuteTool | PromptForConfig | BuildToolCommand | SelfImproveCommand;
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "LogLevel".
 */
export type LogLevel = "plan" | "tool" | "memory" | "error" | "warn" | "info";

export interface BusShapes {}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionMemory".
 */
export interface ActionMemory {
  action_type: "ActionMemory";
  query: string;
  namespace: string | null;
  top_k: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionTool".
 */
export interface ActionTool {
  action_type: "ActionTool";
  tool_name: string;
  args: {
    [k: string]: unknown;
  };
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionBuildTool".
 */
export interface ActionBuildTool {
  action_type: "ActionBuildTool";
  tool_name: string;
  language: "python" | "rust";
  code: string;
  description: string;
  args_schema: {
    [k: string]: unknown;
  } | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionSelfImprove".
 */
export interface ActionSelfImprove {
  action_type: "ActionSelfImprove";
  new_prompt: string;
  rationale: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionRemember".
 */
export interface ActionRemember {
  action_type: "ActionRemember";
  text: string;
  namespace: string | null;
  kb: string;
  why: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionReadDocument".
 */
export interface ActionReadDocument {
  action_type: "ActionReadDocument";
  document: DocumentRef;
  namespace: string | null;
  kb: string;
  then_store: boolean;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "DocumentRef".
 */
export interface DocumentRef {
  document_id: string;
  digest: string;
  filename: string;
  size: number;
  content_type: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionStoreDocument".
 */
export interface ActionStoreDocument {
  action_type: "ActionStoreDocument";
  document: DocumentRef;
  parsed: ParsedDocument;
  namespace: string;
  kb: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ParsedDocument".
 */
export interface ParsedDocument {
  document_id: string;
  filename: string;
  size: number;
  format: string;
  pages: number | null;
  chunks: number;
  characters: number;
  /**
   * @maxItems 3
   */
  preview: [] | [string] | [string, string] | [string, string, string];
  excerpt: string;
  /**
   * @maxItems 20
   */
  warnings:
    | []
    | [string]
    | [string, string]
    | [string, string, string]
    | [string, string, string, string]
    | [string, string, string, string, string]
    | [string, string, string, string, string, string]
    | [string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string, string, string, string]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ];
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionBudget".
 */
export interface ActionBudget {
  action_type: "ActionBudget";
  scope: string;
  period: "day" | "month";
  unit: "tokens" | "money";
  limit: number;
  spent: number;
  estimate: number;
  ceiling: number | null;
  currency: string;
  raise_to: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionAskTwin".
 */
export interface ActionAskTwin {
  action_type: "ActionAskTwin";
  twin_id: string;
  message: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionHandoff".
 */
export interface ActionHandoff {
  action_type: "ActionHandoff";
  twin_id: string;
  reason: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ActionResponse".
 */
export interface ActionResponse {
  action_type: "ActionResponse";
  content: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ApprovalRecord".
 */
export interface ApprovalRecord {
  approval_id: string;
  session_id: string;
  job_id: string;
  twin_id: string;
  step: number;
  kind: "memory" | "tool" | "build" | "self_improve" | "remember" | "document" | "budget" | "agent";
  action:
    | ActionMemory
    | ActionTool
    | ActionBuildTool
    | ActionSelfImprove
    | ActionRemember
    | ActionReadDocument
    | ActionStoreDocument
    | ActionBudget
    | ActionAskTwin
    | ActionHandoff
    | ActionResponse;
  summary: string;
  reason: string;
  policy: string;
  created_at: string;
  expires_at: string;
  state: "pending" | "approved" | "denied" | "expired" | "cancelled";
  decided_by: string | null;
  decided_at: string | null;
  decision_reason: string | null;
  decision_event_id: string | null;
  request_id: string | null;
  mcp: McpToolShown | null;
  eval: EvalSummary | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "McpToolShown".
 */
export interface McpToolShown {
  server: string;
  tool: string;
  title: string | null;
  description: string;
  annotations: {
    [k: string]: boolean;
  };
  digest: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EvalSummary".
 */
export interface EvalSummary {
  set_id: string;
  run_id: string;
  state: "running" | "done" | "failed";
  passed: number;
  total: number;
  pass_rate: number;
  baseline_pass_rate: number | null;
  required: number | null;
  ok: boolean | null;
  error: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ApprovalRequest".
 */
export interface ApprovalRequest {
  approval_id: string;
  kind: "memory" | "tool" | "build" | "self_improve" | "remember" | "document" | "budget" | "agent";
  action:
    | ActionMemory
    | ActionTool
    | ActionBuildTool
    | ActionSelfImprove
    | ActionRemember
    | ActionReadDocument
    | ActionStoreDocument
    | ActionBudget
    | ActionAskTwin
    | ActionHandoff
    | ActionResponse;
  summary: string;
  reason: string;
  policy: string;
  expires_at: string;
  mcp: McpToolShown | null;
  eval_pending: boolean;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "BudgetList".
 */
export interface BudgetList {
  budgets: BudgetStatus[];
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "BudgetStatus".
 */
export interface BudgetStatus {
  period: "day" | "month";
  tokens: number | null;
  money: number | null;
  ceiling_tokens: number | null;
  ceiling_money: number | null;
  scope: string;
  updated_by: string;
  updated_at: string;
  period_start: string;
  spent_tokens: number;
  spent_money: number | null;
  unpriced_calls: number;
  currency: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "BuildToolCommand".
 */
export interface BuildToolCommand {
  command: "build_tool";
  tool_name: string;
  language: string;
  approval_id: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "CaseResult".
 */
export interface CaseResult {
  case_id: string;
  passed: boolean;
  checks: CheckOutcome[];
  answer: string;
  actions: string[];
  asked_approval: boolean;
  llm_calls: number;
  replayed_calls: number;
  input_tokens: number;
  output_tokens: number;
  cost: number | null;
  baseline_passed: boolean | null;
  error: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "CheckOutcome".
 */
export interface CheckOutcome {
  kind: "exact" | "regex" | "must_call" | "must_not_call" | "must_ask_approval" | "rubric";
  value: string;
  passed: boolean | null;
  detail: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "CompleteMessage".
 */
export interface CompleteMessage {
  type: "complete_message";
  id: string;
  content: string;
  is_final: boolean;
  latency_ms: number | null;
  source_memories: SourceMemory[];
  issued_command: (ShowMemoryPage | ExecuteTool | PromptForConfig | BuildToolCommand | SelfImproveCommand) | null;
  raw_orchestrator_decision: string | null;
  session_id: string;
  job_id: string | null;
  seq: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "SourceMemory".
 */
export interface SourceMemory {
  id: string;
  text: string;
  score: number;
  namespace: string | null;
  kb: string | null;
  source: string | null;
  page: number | null;
  document_id: string | null;
  session_id: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ShowMemoryPage".
 */
export interface ShowMemoryPage {
  command: "show_memory_page";
  query: string;
  memory_id: string | null;
  approval_id: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ExecuteTool".
 */
export interface ExecuteTool {
  command: "execute_tool";
  tool_name: string;
  arguments: {
    [k: string]: unknown;
  };
  approval_id: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "PromptForConfig".
 */
export interface PromptForConfig {
  command: "prompt_for_config";
  config_key: string;
  prompt: string;
  approval_id: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "SelfImproveCommand".
 */
export interface SelfImproveCommand {
  command: "self_improve";
  diff: string;
  approval_id: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "CpuStats".
 */
export interface CpuStats {
  count: number;
  percent: number | null;
  per_core: (number | null)[];
  /**
   * @minItems 3
   * @maxItems 3
   */
  load_avg: [number, number, number];
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "DiskStats".
 */
export interface DiskStats {
  usage: DiskUsage[];
  io: IoRates;
  io_per_disk: {
    [k: string]: IoRates;
  };
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "DiskUsage".
 */
export interface DiskUsage {
  mountpoint: string;
  device: string;
  fstype: string;
  total_bytes: number;
  used_bytes: number;
  free_bytes: number;
  percent: number;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "IoRates".
 */
export interface IoRates {
  read_bytes_per_s: number | null;
  write_bytes_per_s: number | null;
  read_ops_per_s: number | null;
  write_ops_per_s: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EvalCase".
 */
export interface EvalCase {
  case_id: string;
  session_id: string;
  job_id: string;
  message: string;
  /**
   * @maxItems 20
   */
  history:
    | []
    | [EvalTurn]
    | [EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn, EvalTurn]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ]
    | [
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn,
        EvalTurn
      ];
  /**
   * @maxItems 64
   */
  steps: RecordedStep[];
  answer: string;
  prompt_version: number | null;
  /**
   * @maxItems 20
   */
  checks:
    | []
    | [EvalCheck]
    | [EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck]
    | [EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck, EvalCheck]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ]
    | [
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck,
        EvalCheck
      ];
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EvalTurn".
 */
export interface EvalTurn {
  role: "user" | "assistant";
  content: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "RecordedStep".
 */
export interface RecordedStep {
  step: number;
  action:
    | ActionMemory
    | ActionTool
    | ActionBuildTool
    | ActionSelfImprove
    | ActionRemember
    | ActionReadDocument
    | ActionStoreDocument
    | ActionBudget
    | ActionAskTwin
    | ActionHandoff
    | ActionResponse;
  raw: string;
  decided_by: string;
  observation: string | null;
  asked_approval: boolean;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EvalCheck".
 */
export interface EvalCheck {
  kind: "exact" | "regex" | "must_call" | "must_not_call" | "must_ask_approval" | "rubric";
  value: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EvalGate".
 */
export interface EvalGate {
  set_id: string;
  min_pass_rate: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EvalResult".
 */
export interface EvalResult {
  run_id: string;
  set_id: string;
  twin_id: string;
  prompt_version: number | null;
  state: "running" | "done" | "failed";
  error: string | null;
  /**
   * @maxItems 200
   */
  cases: CaseResult[];
  passed: number;
  failed: number;
  pass_rate: number;
  baseline_version: number | null;
  baseline_pass_rate: number | null;
  llm_calls: number;
  replayed_calls: number;
  input_tokens: number;
  output_tokens: number;
  cost: number | null;
  seconds: number;
  approval_id: string | null;
  started_at: string;
  finished_at: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EvalSet".
 */
export interface EvalSet {
  set_id: string;
  twin_id: string;
  description: string;
  /**
   * @maxItems 200
   */
  cases: EvalCase[];
  created_by: string;
  created_at: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "EventFrame".
 */
export interface EventFrame {
  type: "event";
  seq: number;
  event_type: string;
  id: string;
  ts: string;
  session_id: string;
  job_id: string | null;
  causation_id: string | null;
  twin_id: string | null;
  body: {
    [k: string]: unknown;
  };
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "GpuDevice".
 */
export interface GpuDevice {
  index: number;
  name: string | null;
  uuid: string | null;
  utilization_percent: number | null;
  memory_utilization_percent: number | null;
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  temperature_c: number | null;
  power_w: number | null;
  power_limit_w: number | null;
  error: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "GpuStats".
 */
export interface GpuStats {
  available: boolean;
  reason: string | null;
  driver_version: string | null;
  devices: GpuDevice[];
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "HostSeen".
 */
export interface HostSeen {
  host_id: string;
  last_seen: string;
  silent: boolean;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "HostsFrame".
 */
export interface HostsFrame {
  hosts: HostSeen[];
  changed: string | null;
  change: ("appeared" | "silent") | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "JobLog".
 */
export interface JobLog {
  level: "plan" | "tool" | "memory" | "error" | "warn" | "info";
  message: string;
  service: string;
  status: ("pending" | "waiting_approval" | "running" | "completed" | "failed" | "cancelled") | null;
  progress: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "McpNamed".
 */
export interface McpNamed {
  name: string;
  description: string;
  uri: string | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "McpServerStatus".
 */
export interface McpServerStatus {
  server: string;
  host: string;
  running: boolean;
  isolation: "bwrap" | "none" | "remote";
  network: boolean;
  protocol_version: string | null;
  server_info: string | null;
  tools: number;
  /**
   * @maxItems 200
   */
  resources: McpNamed[];
  /**
   * @maxItems 200
   */
  prompts: McpNamed[];
  restarts: number;
  last_error: string | null;
  warning: string | null;
  updated_at: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "McpServerView".
 */
export interface McpServerView {
  name: string;
  transport: "stdio" | "http";
  command: string | null;
  /**
   * @maxItems 64
   */
  args: string[];
  network: boolean;
  /**
   * @maxItems 16
   */
  paths:
    | []
    | [string]
    | [string, string]
    | [string, string, string]
    | [string, string, string, string]
    | [string, string, string, string, string]
    | [string, string, string, string, string, string]
    | [string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string, string, string, string, string, string, string]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ]
    | [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string
      ];
  url: string | null;
  description: string;
  header_names: string[];
  created_by: string;
  created_at: string;
  status: McpServerStatus | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "MemoryStats".
 */
export interface MemoryStats {
  total_bytes: number;
  available_bytes: number;
  used_bytes: number;
  percent: number;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "MessageChunk".
 */
export interface MessageChunk {
  type: "message_chunk";
  id: string;
  content_chunk: string;
  is_final: boolean;
  session_id: string;
  job_id: string | null;
  seq: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "MetricsFrame".
 */
export interface MetricsFrame {
  seq: number;
  host_id: string;
  ts: string;
  sample: TelemetrySample;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "TelemetrySample".
 */
export interface TelemetrySample {
  host_id: string;
  interval_s: number | null;
  uptime_s: number;
  process_count: number;
  cpu: CpuStats;
  memory: MemoryStats;
  swap: SwapStats;
  disk: DiskStats;
  network: NetStats;
  gpu: GpuStats;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "SwapStats".
 */
export interface SwapStats {
  total_bytes: number;
  used_bytes: number;
  percent: number;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "NetStats".
 */
export interface NetStats {
  total: NetRates;
  interfaces: {
    [k: string]: NetRates;
  };
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "NetRates".
 */
export interface NetRates {
  rx_bytes_per_s: number | null;
  tx_bytes_per_s: number | null;
  rx_packets_per_s: number | null;
  tx_packets_per_s: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "PromptVersion".
 */
export interface PromptVersion {
  version: number;
  prompt: string;
  rationale: string;
  author: string;
  created_at: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "Schedule".
 */
export interface Schedule {
  twin_id: string;
  session_id: string;
  message: string;
  spec: string;
  time_zone: string | null;
  id: string;
  owner: string;
  owner_role: "admin" | "member";
  paused: boolean;
  created_at: string;
  updated_at: string;
  next_run: string | null;
  last_run: string | null;
  last_job_id: string | null;
  runs: number;
  skipped: number;
  last_skipped_at: string | null;
  done: boolean;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "ScheduleList".
 */
export interface ScheduleList {
  schedules: Schedule[];
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "StatusUpdate".
 */
export interface StatusUpdate {
  type: "status_update";
  status: string;
  details: string | null;
  session_id: string | null;
  job_id: string | null;
  seq: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "TwinSettings".
 */
export interface TwinSettings {
  codename: string;
  designation: string;
  mission: string;
  avatar: string | null;
  directive_logic: string;
  provider: string | null;
  model: string | null;
  base_url: string | null;
  temperature: number;
  token_limit: number;
  step_limit: number;
  approval_timeout_s: number;
  allowed_tools: string[];
  always_allow: string[];
  /**
   * @maxItems 256
   */
  mcp_tools: string[];
  code_generation: boolean;
  memory_namespace: string;
  /**
   * @maxItems 256
   */
  always_remember: string[];
  eval_gate: EvalGate | null;
  /**
   * @maxItems 256
   */
  may_ask: string[];
  max_depth: number;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "TwinView".
 */
export interface TwinView {
  codename: string;
  designation: string;
  mission: string;
  avatar: string | null;
  directive_logic: string;
  provider: string | null;
  model: string | null;
  base_url: string | null;
  temperature: number;
  token_limit: number;
  step_limit: number;
  approval_timeout_s: number;
  allowed_tools: string[];
  always_allow: string[];
  /**
   * @maxItems 256
   */
  mcp_tools: string[];
  code_generation: boolean;
  memory_namespace: string;
  /**
   * @maxItems 256
   */
  always_remember: string[];
  eval_gate: EvalGate | null;
  /**
   * @maxItems 256
   */
  may_ask: string[];
  max_depth: number;
  id: string;
  has_api_key: boolean;
  owner: string | null;
  mcp_unknown_servers: string[];
  status: "idle" | "thinking" | "busy";
  created_at: string;
  updated_at: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "UsageDay".
 */
export interface UsageDay {
  day: string;
  input_tokens: number;
  output_tokens: number;
  cost: number | null;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "UsageReport".
 */
export interface UsageReport {
  by: "twin" | "user" | "session" | "model";
  since: number | null;
  until: number | null;
  total: UsageTotal;
  groups: UsageTotal[];
  days: UsageDay[];
  top_sessions: UsageTotal[];
  currency: string;
}
/**
 * This interface was referenced by `BusShapes`'s JSON-Schema
 * via the `definition` "UsageTotal".
 */
export interface UsageTotal {
  key: string;
  seq: number;
  calls: number;
  input_tokens: number;
  output_tokens: number;
  estimated_calls: number;
  cost: number | null;
  unpriced_calls: number;
  run_wall_ms: number;
  run_cpu_ms: number;
  cpu_measured_runs: number;
}
