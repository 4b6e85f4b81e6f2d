// Twin settings as edited in the form, and the checks made before the edge sees them.
import type { Twin, TwinSettings } from "./types";

export const PROVIDERS: [string, string, string][] = [
  // [preset, label, default model] — the edge's LLM presets (planner/llm/presets.py)
  ["", "Deterministic planner (no LLM)", ""],
  ["openrouter", "OpenRouter", "openai/gpt-4o-mini"],
  ["openai", "OpenAI", "gpt-4o-mini"],
  ["anthropic", "Anthropic", "claude-haiku-4-5"],
  ["gemini", "Google Gemini", "gemini-2.5-flash"],
  ["deepseek", "DeepSeek", "deepseek-chat"],
  ["mistral", "Mistral", "mistral-small-latest"],
  ["grok", "xAI Grok", "grok-3-mini"],
  ["llama", "Meta Llama API", "Llama-3.3-70B-Instruct"],
  ["ollama", "Ollama (local)", "llama3.2"],
  ["llamacpp", "llama.cpp server", "local"],
  ["vllm", "vLLM", ""],
  ["lmstudio", "LM Studio", ""],
  ["openai-compatible", "Other OpenAI-compatible", ""],
];

export const BUILTIN_TOOLS = ["command_exec", "python", "file_write", "file_read", "list_files", "vector_query"];
export const MAX_AVATAR_BYTES = 2 * 1024 * 1024;

export type Form = TwinSettings & { api_key: string };

export function formOf(twin: Twin): Form {
  // The owner is the edge's to record (records/access.py), never a setting sent back.
  const { id: _id, has_api_key: _k, owner: _o, status: _s, created_at: _c, updated_at: _u, mcp_unknown_servers: _m, ...settings } = twin;
  return { ...settings, api_key: "" };
}

export function validate(form: Form): string[] {
  const problems: string[] = [];
  if (!form.codename.trim()) problems.push("Codename is required.");
  if (form.codename.length > 80) problems.push("Codename: at most 80 characters.");
  if (form.designation.length > 200) problems.push("Designation: at most 200 characters.");
  if (form.mission.length > 4000) problems.push("Mission summary: at most 4,000 characters.");
  if (form.directive_logic.length > 32000) problems.push("Directive logic: at most 32,000 characters.");
  if (form.temperature < 0 || form.temperature > 1.5) problems.push("Temperature must be between 0 and 1.5.");
  if (form.token_limit < 16000 || form.token_limit > 128000) problems.push("Token limit must be between 16K and 128K.");
  if (form.base_url && !/^https?:\/\//.test(form.base_url)) problems.push("Base URL must start with http:// or https://.");
  if (form.memory_namespace !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(form.memory_namespace)) problems.push("Memory namespace: 1-64 characters of A-Z a-z 0-9 _ -.");
  for (const t of form.always_allow) if (!form.allowed_tools.includes(t)) problems.push(`“${t}” is always allowed but not authorised.`);
  return problems;
}

/** The PUT body: settings, and the API key only when a new one was typed (it is write-only). */
export function writeBody(form: Form): Record<string, unknown> {
  const { api_key, ...rest } = form;
  const body: Record<string, unknown> = { ...rest, provider: rest.provider || null, model: rest.model || null, base_url: rest.base_url || null };
  if (api_key.trim()) body.api_key = api_key.trim();
  return body;
}

export function avatarProblem(file: { size: number; type: string }): string | null {
  if (!/^image\/(png|jpeg|gif|webp|svg\+xml)$/.test(file.type)) return "Avatar must be a PNG, JPEG, GIF, WebP or SVG image.";
  if (file.size > MAX_AVATAR_BYTES) return `Avatar is ${(file.size / 1048576).toFixed(1)} MB; the limit is 2 MB.`;
  return null;
}
