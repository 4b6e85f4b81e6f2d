"""Google's Gemini generateContent / streamGenerateContent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .http import fail, post, read_json, sse_events, sse_json
from .messages import ChatMessage, split_system
from .provider import Completion, LLMProvider, TextSink, deliver_whole


class GeminiProvider(LLMProvider):
    def _url(self, stream: bool) -> str:
        model = quote(self.config.model.removeprefix("models/"), safe="-._")
        # The key travels in a header, so URLs (which end up in logs and errors) never hold it.
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.config.base_url}/v1beta/models/{model}:{method}"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.config.secret()}

    def _payload(self, messages: Sequence[ChatMessage], json_mode: bool) -> dict[str, Any]:
        system, turns = split_system(messages)
        generation: dict[str, Any] = {
            "temperature": self.config.temperature,
            "maxOutputTokens": self.config.max_tokens,
        }
        if json_mode:
            generation["responseMimeType"] = "application/json"
        payload: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]} for m in turns
            ],
            "generationConfig": generation,
        }
        if system:
            payload["systemInstruction"] = {"parts": [{"text": system}]}
        return payload

    def _read(self, data: Any) -> tuple[str, str | None, dict[str, Any]]:
        """Text, finish reason and usage of one GenerateContentResponse (whole, or one streamed chunk)."""
        if not isinstance(data, dict):
            raise fail(self.config, "reply is not a JSON object")
        if data.get("error"):
            raise self._body_error(data)
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise fail(self.config, f"prompt blocked by the provider: {blocked}")
        usage = data.get("usageMetadata") or {}
        candidates = data.get("candidates") or []
        if not candidates or not isinstance(candidates[0], dict):
            return "", None, usage
        parts = (candidates[0].get("content") or {}).get("parts") or []
        # Thinking models return their thoughts as parts marked `thought`; only the answer counts.
        text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and not p.get("thought"))
        return text, candidates[0].get("finishReason"), usage

    async def _complete_once(self, messages: Sequence[ChatMessage], json_mode: bool) -> Completion:
        payload = self._payload(messages, json_mode)
        async with post(self.session, self.config, self._url(False), self._headers(), payload, stream=False) as resp:
            return self._whole(await read_json(self.config, resp))

    def _whole(self, data: Any) -> Completion:
        text, finish, usage = self._read(data)
        if not data.get("candidates"):
            raise fail(self.config, "reply has no candidates")
        return Completion(text, finish, usage.get("promptTokenCount"), usage.get("candidatesTokenCount"))

    async def _stream_once(self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink) -> Completion:
        payload = self._payload(messages, json_mode)
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        async with post(self.session, self.config, self._url(True), self._headers(), payload, stream=True) as resp:
            if resp.content_type == "application/json":
                return await deliver_whole(self._whole(await read_json(self.config, resp)), deliver)
            async for event in sse_events(self.config, resp):
                text, chunk_finish, chunk_usage = self._read(sse_json(self.config, event))
                finish = chunk_finish or finish
                usage = chunk_usage or usage
                if text:
                    parts.append(text)
                    await deliver(text)
        return Completion("".join(parts), finish, usage.get("promptTokenCount"), usage.get("candidatesTokenCount"))
