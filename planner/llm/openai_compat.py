"""OpenAI-compatible chat completions: OpenRouter, OpenAI, Ollama, DeepSeek, Mistral, Grok, vLLM, ..."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .http import fail, post, read_json, sse_events, sse_json
from .messages import ChatMessage
from .provider import Completion, LLMProvider, TextSink, deliver_whole


class OpenAICompatProvider(LLMProvider):
    def _url(self) -> str:
        return f"{self.config.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        key = self.config.secret()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _payload(self, messages: Sequence[ChatMessage], json_mode: bool, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self.config.temperature,
            self.config.max_tokens_field: self.config.max_tokens,
            "stream": stream,
        }
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        return payload

    async def _complete_once(self, messages: Sequence[ChatMessage], json_mode: bool) -> Completion:
        payload = self._payload(messages, json_mode, stream=False)
        async with post(self.session, self.config, self._url(), self._headers(), payload, stream=False) as response:
            return self._whole(await read_json(self.config, response))

    def _whole(self, data: Any) -> Completion:
        if not isinstance(data, dict):
            raise fail(self.config, "reply is not a JSON object")
        if data.get("error"):
            raise self._body_error(data)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise fail(self.config, "reply has no choices")
        message = choices[0].get("message") or {}
        usage = data.get("usage") or {}
        return Completion(
            text=str(message.get("content") or ""),
            finish_reason=choices[0].get("finish_reason"),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
        )

    async def _stream_once(self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink) -> Completion:
        payload = self._payload(messages, json_mode, stream=True)
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        async with post(self.session, self.config, self._url(), self._headers(), payload, stream=True) as response:
            if response.content_type == "application/json":
                return await deliver_whole(self._whole(await read_json(self.config, response)), deliver)
            async for event in sse_events(self.config, response):
                if event.data.strip() == "[DONE]":
                    break
                chunk = sse_json(self.config, event)
                if chunk.get("error"):
                    raise self._body_error(chunk)
                usage = chunk.get("usage") or usage
                choices = chunk.get("choices") or []
                if not choices or not isinstance(choices[0], dict):
                    continue
                finish = choices[0].get("finish_reason") or finish
                text = (choices[0].get("delta") or {}).get("content")
                if text:
                    parts.append(text)
                    await deliver(text)
        return Completion(
            text="".join(parts),
            finish_reason=finish,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
        )
