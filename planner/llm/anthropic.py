"""Anthropic's Messages API. Native tools: `tools` with `input_schema`, the reply's `tool_use` blocks
(streamed as `input_json_delta` pieces per content block), results as `tool_result` blocks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .http import fail, post, read_json, sse_events, sse_json
from .messages import ChatMessage, as_text, split_system
from .provider import Completion, LLMProvider, TextSink, deliver_whole
from .tool_stream import CallAssembler, whole_calls
from .tools import ToolSpec

API_VERSION = "2023-06-01"
# Anthropic accepts 0..1; a twin may ask for up to 1.5.
MAX_TEMPERATURE = 1.0


def _input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object `tool_use` needs (a malformed call sent back for repair: {})."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
        if message.is_error:
            block["is_error"] = True
        return [block]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)} for c in message.tool_calls
    ]
    return blocks


def native_turns(turns: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Alternating turns of content blocks: tool results are the user's, merged with what follows."""
    result: list[dict[str, Any]] = []
    for message in turns:
        role = "user" if message.role == "tool" else message.role
        blocks = _blocks(message)
        if result and result[-1]["role"] == role:
            result[-1]["content"] += blocks
        else:
            result.append({"role": role, "content": blocks})
    return result


class AnthropicProvider(LLMProvider):
    def _url(self) -> str:
        return f"{self.config.base_url}/v1/messages"

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.config.secret(), "anthropic-version": API_VERSION}

    def _payload(self, messages: Sequence[ChatMessage], stream: bool, tools: Sequence[ToolSpec]) -> dict[str, Any]:
        # The Messages API has no JSON mode; the instructions and the reply validation carry it.
        system, turns = split_system(messages if tools else as_text(messages))
        payload: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": self.config.max_tokens,
            "temperature": min(self.config.temperature, MAX_TEMPERATURE),
            "stream": stream,
        }
        if tools:
            payload["messages"] = native_turns(turns)
            payload["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
            ]
            payload["tool_choice"] = {"type": "auto"}
        else:
            payload["messages"] = [{"role": m.role, "content": m.content} for m in turns]
        if system:
            payload["system"] = system
        return payload

    async def _complete_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, tools: Sequence[ToolSpec]
    ) -> Completion:
        payload = self._payload(messages, False, tools)
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
        calls = [
            (b.get("id"), str(b.get("name") or ""), b.get("input"))
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "tool_use"
        ]
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=data.get("stop_reason"),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            tool_calls=whole_calls(calls),
        )

    async def _stream_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink, tools: Sequence[ToolSpec]
    ) -> Completion:
        payload = self._payload(messages, True, tools)
        parts: list[str] = []
        finish: str | None = None
        input_tokens: int | None = None
        output_tokens: int | None = None
        calls = CallAssembler()
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
                elif kind == "content_block_start":
                    block = data.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        calls.add(data.get("index"), id=block.get("id"), name=block.get("name"))
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        parts.append(delta["text"])
                        await deliver(delta["text"])
                    elif delta.get("type") == "input_json_delta":
                        calls.add(data.get("index"), arguments=str(delta.get("partial_json") or ""))
                elif kind == "message_delta":
                    finish = (data.get("delta") or {}).get("stop_reason") or finish
                    output_tokens = (data.get("usage") or {}).get("output_tokens", output_tokens)
                elif kind == "message_stop":
                    break
        return Completion("".join(parts), finish, input_tokens, output_tokens, calls.calls())
