"""Google's Gemini generateContent / streamGenerateContent. Native tools: `functionDeclarations`
(schemas as `parametersJsonSchema`, JSON Schema as is), the reply's `functionCall` parts (whole in
each streamed chunk), results as `functionResponse` parts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .http import fail, post, read_json, sse_events, sse_json
from .messages import ChatMessage, as_text, split_system
from .provider import Completion, LLMProvider, TextSink, deliver_whole
from .tool_stream import MAX_CALLS, whole_calls
from .tools import ToolSpec

Call = tuple[str | None, str, Any, str]


def _args(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        key = "error" if message.is_error else "output"
        return [{"functionResponse": {"name": message.name or "", "response": {key: message.content}}}]
    parts: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
    for call in message.tool_calls:
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": _args(call.arguments)}}
        if call.signature:
            part["thoughtSignature"] = call.signature
        parts.append(part)
    return parts or [{"text": ""}]


def native_contents(turns: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    contents: list[dict[str, Any]] = []
    for message in turns:
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"] += _parts(message)
        else:
            contents.append({"role": role, "parts": _parts(message)})
    return contents


class GeminiProvider(LLMProvider):
    def _url(self, stream: bool) -> str:
        model = quote(self.config.model.removeprefix("models/"), safe="-._")
        # The key travels in a header, so URLs (which end up in logs and errors) never hold it.
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.config.base_url}/v1beta/models/{model}:{method}"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.config.secret()}

    def _payload(self, messages: Sequence[ChatMessage], json_mode: bool, tools: Sequence[ToolSpec]) -> dict[str, Any]:
        system, turns = split_system(messages if tools else as_text(messages))
        generation: dict[str, Any] = {
            "temperature": self.config.temperature,
            "maxOutputTokens": self.config.max_tokens,
        }
        if json_mode:
            generation["responseMimeType"] = "application/json"
        payload: dict[str, Any] = {"contents": native_contents(turns), "generationConfig": generation}
        if tools:
            declarations = [
                {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters} for t in tools
            ]
            payload["tools"] = [{"functionDeclarations": declarations}]
            payload["toolConfig"] = {"functionCallingConfig": {"mode": "AUTO"}}
        if system:
            payload["systemInstruction"] = {"parts": [{"text": system}]}
        return payload

    def _read(self, data: Any) -> tuple[str, str | None, dict[str, Any], list[Call]]:
        """Text, finish reason, usage and calls of one GenerateContentResponse (whole, or one chunk)."""
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
            return "", None, usage, []
        parts = [p for p in (candidates[0].get("content") or {}).get("parts") or [] if isinstance(p, dict)]
        # Thinking models return their thoughts as parts marked `thought`; only the answer counts.
        text = "".join(str(p.get("text", "")) for p in parts if not p.get("thought"))
        calls: list[Call] = [
            (call.get("id"), str(call.get("name") or ""), call.get("args"), str(p.get("thoughtSignature") or ""))
            for p in parts
            if isinstance(call := p.get("functionCall"), dict)
        ]
        return text, candidates[0].get("finishReason"), usage, calls

    async def _complete_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, tools: Sequence[ToolSpec]
    ) -> Completion:
        payload = self._payload(messages, json_mode, tools)
        async with post(self.session, self.config, self._url(False), self._headers(), payload, stream=False) as resp:
            return self._whole(await read_json(self.config, resp))

    def _whole(self, data: Any) -> Completion:
        text, finish, usage, calls = self._read(data)
        if not data.get("candidates"):
            raise fail(self.config, "reply has no candidates")
        return Completion(
            text, finish, usage.get("promptTokenCount"), usage.get("candidatesTokenCount"), whole_calls(calls)
        )

    async def _stream_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink, tools: Sequence[ToolSpec]
    ) -> Completion:
        payload = self._payload(messages, json_mode, tools)
        parts: list[str] = []
        calls: list[Call] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        async with post(self.session, self.config, self._url(True), self._headers(), payload, stream=True) as resp:
            if resp.content_type == "application/json":
                return await deliver_whole(self._whole(await read_json(self.config, resp)), deliver)
            async for event in sse_events(self.config, resp):
                text, chunk_finish, chunk_usage, chunk_calls = self._read(sse_json(self.config, event))
                finish = chunk_finish or finish
                usage = chunk_usage or usage
                calls += chunk_calls[: MAX_CALLS + 1 - len(calls)]
                if text:
                    parts.append(text)
                    await deliver(text)
        return Completion(
            "".join(parts),
            finish,
            usage.get("promptTokenCount"),
            usage.get("candidatesTokenCount"),
            whole_calls(calls),
        )
