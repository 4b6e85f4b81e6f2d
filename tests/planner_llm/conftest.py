from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from planner.llm import LLMProvider, ProviderConfig, config_for, make_provider

from ..fake_llm import FakeLLMServer, Family

TEST_KEY = "sk-test-SECRET-0123456789abcdef"
PRESET_OF: dict[Family, str] = {"openai": "openrouter", "anthropic": "anthropic", "gemini": "gemini"}
# Small timeouts and backoff so failure paths run in milliseconds.
FAST: dict[str, Any] = {"timeout_s": 2.0, "max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05}

ProviderFactory = Callable[..., LLMProvider]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def fast_config(family: Family, base_url: str, **settings: Any) -> ProviderConfig:
    fields = {**FAST, **settings}
    return config_for(PRESET_OF[family], model="test-model", api_key=TEST_KEY, base_url=base_url, env={}, **fields)


@pytest.fixture
def provider_for(fake_llm: FakeLLMServer, http: aiohttp.ClientSession) -> ProviderFactory:
    def make(family: Family, **settings: Any) -> LLMProvider:
        base_url = str(settings.pop("base_url", fake_llm.base_url(family)))
        return make_provider(fast_config(family, base_url, **settings), http)

    return make


FAMILIES: list[Family] = ["openai", "anthropic", "gemini"]
