"""Which provider a twin talks to, and how: a validated, secret-safe configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from records.endpoints import ALLOWED_URLS_ENV, EndpointPolicy, may_receive_operator_key

from .errors import LLMConfigError
from .presets import PRESETS, Family, Preset, preset

# The one place the planner reads the environment without a settings class, on purpose: which
# variables matter depends on the provider (each preset names its own key variable, e.g.
# OPENROUTER_API_KEY, ANTHROPIC_API_KEY, and auto-detection probes them all), which a settings class
# with fixed fields cannot say. Every reader takes an `env` mapping (tests pass their own); the
# default is the process environment.

# The order providers are picked in when LLM_PROVIDER is not set.
AUTO_ORDER = ("openrouter", "openai", "anthropic", "gemini", "deepseek", "mistral", "grok", "llama")


class ProviderConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = Field(min_length=1, description="preset name, e.g. 'openrouter', 'ollama'")
    family: Family
    model: str = Field(min_length=1)
    api_key: SecretStr | None = None
    base_url: str = Field(min_length=1)
    json_mode: bool = True
    # Native tool calling; off: the JSON-object format (planner/llm/presets.py says which presets).
    tool_calling: bool = False
    temperature: float = Field(default=0.2, ge=0.0, le=1.5)
    max_tokens: int = Field(default=2048, ge=1, le=1_000_000)
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # Non-streamed: the whole request. Streamed: the longest silence (connect, first byte, between chunks).
    timeout_s: float = Field(default=60.0, gt=0)
    # Streamed: the whole reply, however steadily it trickles.
    stream_max_s: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    # A Retry-After longer than this is not waited for: the call fails at once with the 429.
    retry_after_max_s: float = Field(default=30.0, ge=0)
    extra_headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _base_url_has_scheme(self) -> ProviderConfig:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return self

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    def secret(self) -> str:
        return self.api_key.get_secret_value() if self.api_key is not None else ""


def config_for(
    provider: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    **settings: object,
) -> ProviderConfig:
    """A config for a named preset (a twin's provider): blanks are filled from the preset and the
    environment (the preset's key variable, then LLM_API_KEY; the environment's key only where
    `operator_key` lets it go). `settings` are other ProviderConfig fields (temperature, ...)."""
    env = os.environ if env is None else env
    found = preset(provider)
    if found is None:
        known = ", ".join(sorted(PRESETS))
        raise LLMConfigError(f"unknown LLM provider {provider!r} (known: {known}, or 'mock')")
    url = (base_url or found.base_url).rstrip("/")
    key = api_key or operator_key(found, url, env)
    if found.key_required and not key:
        if api_key is None and _has_env_key(found, env):
            raise LLMConfigError(
                f"LLM provider {found.name!r} at {url} needs an API key of its own: the environment's key goes only "
                f"to {found.base_url} (or a base URL listed in {ALLOWED_URLS_ENV})"
            )
        raise LLMConfigError(f"LLM provider {found.name!r} needs an API key: set {found.key_env} (or LLM_API_KEY)")
    chosen_model = model or found.default_model
    if not chosen_model:
        raise LLMConfigError(f"LLM provider {found.name!r} has no default model: set LLM_MODEL")
    if not url:
        raise LLMConfigError(f"LLM provider {found.name!r} needs a base URL: set LLM_BASE_URL")
    fields: dict[str, object] = {
        "provider": found.name,
        "family": found.family,
        "model": chosen_model,
        "api_key": SecretStr(key) if key else None,
        "base_url": url,
        "json_mode": found.json_mode,
        "tool_calling": found.tool_calling,
        "extra_headers": dict(found.extra_headers),
        "max_tokens_field": found.max_tokens_field,
    }
    fields.update(settings)
    try:
        return ProviderConfig.model_validate(fields)
    except ValueError as error:
        # pydantic's message may echo input values; say which fields failed, not what they held.
        raise LLMConfigError(f"invalid LLM settings for {found.name!r}: {_fields_of(error)}") from None


def operator_key(found: Preset, url: str, env: Mapping[str, str]) -> str:
    """The environment's key for this preset (its own variable, then LLM_API_KEY), or "" when `url`
    is not a place the operator's key may go (records.endpoints: the preset's own URL, the
    operator's LLM_BASE_URL, or a listed one): a twin pointed elsewhere uses only its own key."""
    if not may_receive_operator_key(url, found.base_url, EndpointPolicy.from_env(env)):
        return ""
    return (env.get(found.key_env, "") if found.key_env else "") or env.get("LLM_API_KEY", "")


def _has_env_key(found: Preset, env: Mapping[str, str]) -> bool:
    return bool((env.get(found.key_env, "") if found.key_env else "") or env.get("LLM_API_KEY", ""))


def provider_config_from_env(env: Mapping[str, str] | None = None) -> ProviderConfig | None:
    """The default provider from the environment, or None: use the deterministic planner."""
    env = os.environ if env is None else env
    name = env.get("LLM_PROVIDER", "").strip().lower()
    if name == "mock":
        return None
    if not name:
        name = _auto_detect(env)
        if not name:
            return None
    settings: dict[str, object] = {}
    for variable, field_name in _NUMERIC_SETTINGS.items():
        value = env.get(variable, "").strip()
        if value:
            settings[field_name] = value
    for variable, field_name in _SWITCHES.items():
        value = env.get(variable, "").strip().lower()
        if value:
            settings[field_name] = value in {"1", "true", "yes", "on"}
    return config_for(
        name,
        model=env.get("LLM_MODEL", "").strip() or None,
        api_key=env.get("LLM_API_KEY", "").strip() or None,
        base_url=env.get("LLM_BASE_URL", "").strip() or None,
        env=env,
        **settings,
    )


_SWITCHES = {"LLM_JSON_MODE": "json_mode", "LLM_TOOL_CALLING": "tool_calling"}

_NUMERIC_SETTINGS = {
    "LLM_TEMPERATURE": "temperature",
    "LLM_MAX_TOKENS": "max_tokens",
    "LLM_TIMEOUT_S": "timeout_s",
    "LLM_MAX_ATTEMPTS": "max_attempts",
}


def _auto_detect(env: Mapping[str, str]) -> str:
    for name in AUTO_ORDER:
        key_env = PRESETS[name].key_env
        if key_env and env.get(key_env, "").strip():
            return name
    if env.get("LLM_BASE_URL", "").strip():
        return "openai-compatible"
    return ""


def _fields_of(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in errors())
    return "invalid value"
