"""OpenAI-compatible chat completions: OpenRouter, OpenAI, Ollama, DeepSeek, Mistral, Grok, vLLM, ...
Native tools: `tools` / `tool_choice`, the reply's `tool_calls` (streamed as deltas keyed by `index`),
results as `tool` messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .http import fail, post, read_json, sse_events, sse_json
from .messages import ChatMessage, as_text
from .provider import Completion, LLMProvider, TextSink, deliver_whole
from .tool_stream import CallAssembler, object_text, whole_calls
from .tools import ToolSpec


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
        return {"role": "assistant", "content": message.content or None, "tool_calls": calls}
    return {"role": message.role, "content": message.content}


class OpenAICompatProvider(LLMProvider):
    def _url(self) -> str:
        return f"{self.config.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        key = self.config.secret()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _payload(
        self, messages: Sequence[ChatMessage], json_mode: bool, stream: bool, tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        turns = messages if tools else as_text(messages)
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": [_message(m) for m in turns],
            "temperature": self.config.temperature,
            self.config.max_tokens_field: self.config.max_tokens,
            "stream": stream,
        }
        if tools:
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
            payload["tool_choice"] = "auto"
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        return payload

    async def _complete_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, tools: Sequence[ToolSpec]
    ) -> Completion:
        payload = self._payload(messages, json_mode, False, tools)
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
        calls = [
            (c.get("id"), str((c.get("function") or {}).get("name") or ""), (c.get("function") or {}).get("arguments"))
            for c in message.get("tool_calls") or []
            if isinstance(c, dict)
        ]
        return Completion(
            text=str(message.get("content") or ""),
            finish_reason=choices[0].get("finish_reason"),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            tool_calls=whole_calls(calls),
        )

    async def _stream_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink, tools: Sequence[ToolSpec]
    ) -> Completion:
        payload = self._payload(messages, json_mode, True, tools)
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        calls = CallAssembler()
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
                delta = choices[0].get("delta") or {}
                for piece in delta.get("tool_calls") or []:
                    if isinstance(piece, dict):
                        function = piece.get("function") or {}
                        arguments = function.get("arguments")
                        calls.add(
                            piece.get("index", 0),
                            id=piece.get("id"),
                            name=function.get("name"),
                            arguments=None if arguments is None else object_text(arguments),
                        )
                text = delta.get("content")
                if text:
                    parts.append(text)
                    await deliver(text)
        return Completion(
            text="".join(parts),
            finish_reason=finish,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            tool_calls=calls.calls(),
        )
