"""Known providers: where they live, which key they read, what their API can do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Family = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class Preset:
    name: str
    family: Family
    base_url: str
    key_env: str | None
    # `response_format: {"type": "json_object"}` (OpenAI family) / `responseMimeType` (Gemini).
    json_mode: bool
    default_model: str | None = None
    key_required: bool = True
    # OpenAI itself rejects `max_tokens` for its newer models; every other server still expects it.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Native tool calling (`tools` / `tool_use` / `functionDeclarations`); off: the JSON-object format.
    # Off where the server needs flags to accept tools (vLLM's --enable-auto-tool-choice, llama.cpp's
    # --jinja) or is unknown; LLM_TOOL_CALLING=1 turns it on.
    tool_calling: bool = True


_PRESETS = (
    Preset(
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        json_mode=True,
        default_model="openai/gpt-4o-mini",
        extra_headers={"X-Title": "PAGI"},
    ),
    Preset(
        "openai",
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        json_mode=True,
        default_model="gpt-4o-mini",
        max_tokens_field="max_completion_tokens",
    ),
    Preset("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", False, "claude-haiku-4-5"),
    Preset("gemini", "gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY", True, "gemini-2.5-flash"),
    Preset("deepseek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", True, "deepseek-chat"),
    Preset("mistral", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", True, "mistral-small-latest"),
    Preset("grok", "openai", "https://api.x.ai/v1", "XAI_API_KEY", True, "grok-3-mini"),
    Preset("llama", "openai", "https://api.llama.com/compat/v1", "LLAMA_API_KEY", False, "Llama-3.3-70B-Instruct"),
    Preset("ollama", "openai", "http://127.0.0.1:11434/v1", "OLLAMA_API_KEY", True, "llama3.2", key_required=False),
    Preset(
        "llamacpp",
        "openai",
        "http://127.0.0.1:8080/v1",
        "LLAMACPP_API_KEY",
        True,
        "local",
        key_required=False,
        tool_calling=False,
    ),
    Preset("vllm", "openai", "http://127.0.0.1:8000/v1", "VLLM_API_KEY", True, key_required=False, tool_calling=False),
    Preset("lmstudio", "openai", "http://127.0.0.1:1234/v1", "LMSTUDIO_API_KEY", False, key_required=False),
    # Any other OpenAI-compatible server: LLM_BASE_URL and LLM_MODEL say where and what.
    Preset("openai-compatible", "openai", "", "LLM_API_KEY", False, key_required=False, tool_calling=False),
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in _PRESETS}
ALIASES: dict[str, str] = {"xai": "grok", "google": "gemini", "claude": "anthropic", "custom": "openai-compatible"}


def preset(name: str) -> Preset | None:
    key = name.strip().lower()
    return PRESETS.get(ALIASES.get(key, key))
