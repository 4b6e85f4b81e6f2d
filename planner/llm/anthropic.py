"""Anthropic's Messages API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .http import fail, post, read_json, sse_events, sse_json
from .messages import ChatMessage, split_system
from .provider import Completion, LLMProvider, TextSink, deliver_whole

API_VERSION = "2023-06-01"
# Anthropic accepts 0..1; a twin may ask for up to 1.5.
MAX_TEMPERATURE = 1.0


class AnthropicProvider(LLMProvider):
    def _url(self) -> str:
        return f"{self.config.base_url}/v1/messages"

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.config.secret(), "anthropic-version": API_VERSION}

    def _payload(self, messages: Sequence[ChatMessage], stream: bool) -> dict[str, Any]:
        # The Messages API has no JSON mode; the instructions and the reply validation carry it.
        system, turns = split_system(messages)
        payload: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": self.config.max_tokens,
            "temperature": min(self.config.temperature, MAX_TEMPERATURE),
            "messages": [{"role": m.role, "content": m.content} for m in turns],
            "stream": stream,
        }
        if system:
            payload["system"] = system
        return payload

    async def _complete_once(self, messages: Sequence[ChatMessage], json_mode: bool) -> Completion:
        payload = self._payload(messages, stream=False)
        async with post(self.session, self.config, self._url(), self._headers(), payload, stream=False) as response:
            return self._whole(await read_json(self.config, response))

    def _whole(self, data: Any) -> Completion:
        if not isinstance(data, dict):
            raise fail(self.config, "reply is not a JSON object")
        if data.get("type") == "error" or data.get("error"):
            raise self._body_error(data)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise fail(self.config, "reply has no content")
        text = "".join(str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=data.get("stop_reason"),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
        )

    async def _stream_once(self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink) -> Completion:
        payload = self._payload(messages, stream=True)
        parts: list[str] = []
        finish: str | None = None
        input_tokens: int | None = None
        output_tokens: int | None = None
        async with post(self.session, self.config, self._url(), self._headers(), payload, stream=True) as response:
            if response.content_type == "application/json":
                return await deliver_whole(self._whole(await read_json(self.config, response)), deliver)
            async for event in sse_events(self.config, response):
                data = sse_json(self.config, event)
                kind = data.get("type", event.event)
                if kind == "error":
                    raise self._body_error(data)
                if kind == "message_start":
                    input_tokens = ((data.get("message") or {}).get("usage") or {}).get("input_tokens")
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        parts.append(delta["text"])
                        await deliver(delta["text"])
                elif kind == "message_delta":
                    finish = (data.get("delta") or {}).get("stop_reason") or finish
                    output_tokens = (data.get("usage") or {}).get("output_tokens", output_tokens)
                elif kind == "message_stop":
                    break
        return Completion("".join(parts), finish, input_tokens, output_tokens)
