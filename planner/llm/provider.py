"""What every provider adapter offers, and the retry/stream discipline they share."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from .config import ProviderConfig
from .errors import LLMError
from .http import short
from .messages import ChatMessage, ToolCall
from .retry import RetryableError, with_retries
from .tools import ToolSpec

log = logging.getLogger("planner.llm")

TextSink = Callable[[str], Awaitable[None]]

# finish reasons meaning "cut off by the token limit", as each family spells it
TRUNCATED = frozenset({"length", "max_tokens", "MAX_TOKENS"})


class _SinkFailed(Exception):
    def __init__(self, error: Exception) -> None:
        self.error = error
        super().__init__(repr(error))


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    # Native tool calls, in the order the model made them (empty: a text answer, or JSON mode).
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def truncated(self) -> bool:
        return self.finish_reason in TRUNCATED


async def deliver_whole(completion: Completion, deliver: TextSink) -> Completion:
    """A server that answered a stream request with one JSON body (some proxies and local servers do):
    the whole text is one piece."""
    await deliver(completion.text)
    return completion


class LLMProvider(ABC):
    """One configured model behind one protocol family. `complete` streams when given `on_text`."""

    def __init__(self, config: ProviderConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session

    @property
    def label(self) -> str:
        return self.config.label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.label} at {self.config.base_url})"

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        json_mode: bool = True,
        on_text: TextSink | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Completion:
        """The model's reply. With `on_text`, the reply is streamed and each piece of text is passed
        on as it arrives; a failure after text was passed on is not retried (it cannot be unsaid).
        With `tools`, they are offered in the family's native shape (no JSON mode then) and the
        reply's calls are in `Completion.tool_calls`."""
        json_mode = json_mode and self.config.json_mode and not tools
        started = time.monotonic()
        if on_text is None:
            completion = await with_retries(self.config, lambda: self._complete_once(messages, json_mode, tools))
        else:
            completion = await with_retries(
                self.config, lambda: self._stream_guarded(messages, json_mode, on_text, tools)
            )
        log.info(
            "LLM %s answered in %.0f ms (finish %s, tokens in %s, out %s, tool calls %d)",
            self.label,
            (time.monotonic() - started) * 1000,
            completion.finish_reason,
            completion.input_tokens,
            completion.output_tokens,
            len(completion.tool_calls),
        )
        return completion

    async def _stream_guarded(
        self, messages: Sequence[ChatMessage], json_mode: bool, on_text: TextSink, tools: Sequence[ToolSpec]
    ) -> Completion:
        delivered = False

        async def deliver(text: str) -> None:
            nonlocal delivered
            if text:
                delivered = True
                try:
                    await on_text(text)
                except Exception as error:
                    raise _SinkFailed(error) from error

        try:
            return await self._stream_once(messages, json_mode, deliver, tools)
        except _SinkFailed as failed:
            # The caller's own failure (e.g. publishing a chunk), not the provider's: not retried,
            # and not mistaken for a network timeout by the HTTP layer.
            raise failed.error from None
        except RetryableError as error:
            if delivered:
                raise LLMError(
                    self.config.provider, self.config.model, f"stream interrupted: {error.reason}", status=error.status
                ) from None
            raise

    @abstractmethod
    async def _complete_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, tools: Sequence[ToolSpec]
    ) -> Completion: ...

    @abstractmethod
    async def _stream_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink, tools: Sequence[ToolSpec]
    ) -> Completion: ...

    def _body_error(self, data: dict[str, Any], status: int | None = None) -> LLMError:
        """An error object inside a 200 body or a stream event (OpenRouter, Anthropic, Gemini all send these)."""
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        code = error.get("code") if isinstance(error, dict) else None
        kind = error.get("type") if isinstance(error, dict) else None
        reason = short(self.config, str(message or kind or "error in reply"))
        if (isinstance(code, int) and (code == 429 or code >= 500)) or kind in {"overloaded_error", "api_error"}:
            code_status = code if isinstance(code, int) else status
            return RetryableError(
                self.config.provider, self.config.model, reason, status=code_status, retry_after_s=None
            )
        return LLMError(
            self.config.provider, self.config.model, reason, status=code if isinstance(code, int) else status
        )
