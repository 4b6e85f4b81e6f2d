"""Config → the adapter for its protocol family."""

from __future__ import annotations

import aiohttp

from .anthropic import AnthropicProvider
from .config import ProviderConfig
from .gemini import GeminiProvider
from .openai_compat import OpenAICompatProvider
from .provider import LLMProvider

_FAMILIES: dict[str, type[LLMProvider]] = {
    "openai": OpenAICompatProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}


def make_provider(config: ProviderConfig, session: aiohttp.ClientSession) -> LLMProvider:
    return _FAMILIES[config.family](config, session)
