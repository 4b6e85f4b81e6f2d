"""Choosing a provider from the environment or a twin's settings."""

from __future__ import annotations

import pytest

from planner.llm import PRESETS, LLMConfigError, ProviderConfig, config_for, provider_config_from_env
from planner.llm.retry import retry_after_seconds


def test_nothing_configured_means_the_deterministic_planner() -> None:
    assert provider_config_from_env({}) is None


def test_mock_means_the_deterministic_planner_even_with_keys() -> None:
    assert provider_config_from_env({"LLM_PROVIDER": "mock", "OPENROUTER_API_KEY": "k"}) is None


def test_openrouter_is_the_default_when_its_key_is_set() -> None:
    config = provider_config_from_env({"OPENROUTER_API_KEY": "or-key", "OPENAI_API_KEY": "oa-key"})
    assert config is not None
    assert (config.provider, config.family, config.base_url) == ("openrouter", "openai", "https://openrouter.ai/api/v1")
    assert config.secret() == "or-key"
    assert config.json_mode


@pytest.mark.parametrize(
    ("env", "provider", "family"),
    [
        ({"OPENAI_API_KEY": "k"}, "openai", "openai"),
        ({"ANTHROPIC_API_KEY": "k"}, "anthropic", "anthropic"),
        ({"GEMINI_API_KEY": "k"}, "gemini", "gemini"),
        ({"LLM_BASE_URL": "http://127.0.0.1:8000/v1", "LLM_MODEL": "qwen"}, "openai-compatible", "openai"),
        ({"LLM_PROVIDER": "ollama"}, "ollama", "openai"),
        ({"LLM_PROVIDER": "xai", "XAI_API_KEY": "k"}, "grok", "openai"),
    ],
)
def test_provider_picked_from_the_environment(env: dict[str, str], provider: str, family: str) -> None:
    config = provider_config_from_env(env)
    assert config is not None
    assert (config.provider, config.family) == (provider, family)


def test_settings_from_the_environment() -> None:
    config = provider_config_from_env(
        {
            "LLM_PROVIDER": "vllm",
            "LLM_MODEL": "meta-llama/Llama-3.1-8B-Instruct",
            "LLM_BASE_URL": "http://gpu-box:8000/v1/",
            "LLM_TEMPERATURE": "1.2",
            "LLM_MAX_TOKENS": "4096",
            "LLM_TIMEOUT_S": "12.5",
            "LLM_MAX_ATTEMPTS": "5",
            "LLM_JSON_MODE": "0",
        }
    )
    assert config is not None
    assert config.base_url == "http://gpu-box:8000/v1"
    assert (config.model, config.temperature, config.max_tokens) == ("meta-llama/Llama-3.1-8B-Instruct", 1.2, 4096)
    assert (config.timeout_s, config.max_attempts, config.json_mode, config.api_key) == (12.5, 5, False, None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_PROVIDER": "openai"}, "needs an API key: set OPENAI_API_KEY"),
        ({"LLM_PROVIDER": "nonsense"}, "unknown LLM provider 'nonsense'"),
        ({"LLM_PROVIDER": "vllm"}, "has no default model: set LLM_MODEL"),
        ({"OPENAI_API_KEY": "k", "LLM_TEMPERATURE": "1.6"}, "temperature: Input should be less than or equal to 1.5"),
        ({"OPENAI_API_KEY": "k", "LLM_MAX_TOKENS": "many"}, "max_tokens"),
        ({"LLM_PROVIDER": "openai-compatible"}, "has no default model"),
    ],
)
def test_misconfiguration_is_a_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(LLMConfigError, match=message):
        provider_config_from_env(env)


def test_a_twin_config_falls_back_to_the_environment_key() -> None:
    config = config_for("anthropic", model="claude-x", env={"ANTHROPIC_API_KEY": "env-key"}, temperature=0.9)
    assert (config.model, config.secret(), config.temperature) == ("claude-x", "env-key", 0.9)
    own = config_for("anthropic", api_key="twin-key", env={"ANTHROPIC_API_KEY": "env-key"})
    assert own.secret() == "twin-key"


def test_every_preset_builds() -> None:
    for name, preset in PRESETS.items():
        config = config_for(name, model="m", api_key="k", base_url=preset.base_url or "http://127.0.0.1:1/v1", env={})
        assert config.family == preset.family


def test_the_key_never_shows_in_reprs_or_dumps() -> None:
    config = config_for("openai", api_key="sk-VERY-SECRET", env={})
    assert isinstance(config, ProviderConfig)
    for text in (repr(config), str(config), config.model_dump_json(), str(config.model_dump())):
        assert "sk-VERY-SECRET" not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0.25", 0.25), ("-3", 0.0), ("soon", None), (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_forms(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected
