"""The planner's LLM side: provider adapters (OpenAI-compatible, Anthropic, Gemini) and one decision step."""

from .config import ProviderConfig, config_for, provider_config_from_env
from .decide import ContentSink, LLMDecision, llm_decide
from .errors import LLMConfigError, LLMError, LLMReplyInvalid
from .factory import make_provider
from .messages import ChatMessage
from .presets import PRESETS, Preset
from .provider import Completion, LLMProvider, TextSink

__all__ = [
    "PRESETS",
    "ChatMessage",
    "Completion",
    "ContentSink",
    "LLMConfigError",
    "LLMDecision",
    "LLMError",
    "LLMProvider",
    "LLMReplyInvalid",
    "Preset",
    "ProviderConfig",
    "TextSink",
    "config_for",
    "llm_decide",
    "make_provider",
    "provider_config_from_env",
]
