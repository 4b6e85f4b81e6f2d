"""Local stand-ins for LLM providers: one aiohttp server on 127.0.0.1 speaking all three protocol
families (OpenAI-compatible chat completions, Anthropic Messages, Gemini generateContent), each with
and without streaming, text and native tool calls (`Reply(tool_calls=[Call(...)])`: OpenAI
`tool_calls` deltas by index, Anthropic `tool_use` blocks with `input_json_delta`s, Gemini
`functionCall` parts). Replies are scripted; every request is recorded for assertions.

    async with FakeLLMServer() as fake:
        fake.script(Fail(429, headers={"Retry-After": "0.1"}), Reply('{"action_type": ...}'))
        config = config_for("openai-compatible", model="m", base_url=fake.openai_base_url)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

Family = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class Call:
    """A native tool call. `arguments` as an object, or as text (sent verbatim: a malformed call)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    # Gemini thinking models put a `thoughtSignature` on a call's part, to be sent back with it.
    signature: str | None = None

    def gemini_part(self) -> dict[str, Any]:
        part: dict[str, Any] = {"functionCall": {"name": self.name, "args": self.value()}}
        if self.signature:
            part["thoughtSignature"] = self.signature
        return part

    def text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)

    def value(self) -> Any:
        """As an object where the family sends one (Anthropic `input`, Gemini `args`); text that is no
        JSON object goes as the string itself, as a broken server would send it."""
        if isinstance(self.arguments, dict):
            return self.arguments
        try:
            return json.loads(self.arguments)
        except ValueError:
            return self.arguments


@dataclass(frozen=True)
class Reply:
    """A successful answer. Streamed as `chunks` if given, else as pieces of `chunk_size` characters;
    `tool_calls` follow the text (their arguments streamed in `chunk_size` pieces too)."""

    text: str = ""
    chunks: list[str] | None = None
    chunk_size: int = 5
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    finish_reason: str | None = None
    tool_calls: list[Call] = field(default_factory=list)

    def call_id(self, index: int) -> str:
        return self.tool_calls[index].id or f"call_fake_{index}"

    def call_pieces(self, index: int) -> list[str]:
        text = self.tool_calls[index].text()
        return [text[i : i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return self.chunks
        return [self.text[i : i + self.chunk_size] for i in range(0, len(self.text), self.chunk_size)] or [""]


@dataclass(frozen=True)
class Fail:
    """An HTTP error in the family's own error format (or `body` verbatim)."""

    status: int
    message: str = "fake provider failure"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: str | None = None


@dataclass(frozen=True)
class Drop:
    """Stream `after` pieces of `text`, then cut the connection."""

    text: str
    after: int = 1
    chunk_size: int = 5


@dataclass(frozen=True)
class Raw:
    """Exactly this response, whatever was asked (odd servers, errors inside a 200)."""

    body: str
    status: int = 200
    content_type: str = "application/json"


Script = Reply | Fail | Drop | Raw


@dataclass(frozen=True)
class RecordedRequest:
    family: Family
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def streamed(self) -> bool:
        return bool(self.body.get("stream")) or "streamGenerateContent" in self.path


class FakeLLMServer:
    def __init__(
        self, *, default: Script | None = None, responder: Callable[[RecordedRequest], Script] | None = None
    ) -> None:
        self.requests: list[RecordedRequest] = []
        self.default = default
        # Answers requests the script does not cover, from what was asked (e.g. echo the user's message).
        self.responder = responder
        self._script: deque[Script] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1beta/models/{call}", self._gemini)
        self._app = app

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self._app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeLLMServer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- configuration ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def base_url(self, family: Family) -> str:
        return self.openai_base_url if family == "openai" else self.url

    def script(self, *items: Script) -> None:
        """Answer the next requests with these, in order; then `default` (or a 500 saying the script ran out)."""
        self._script.extend(items)

    # ---- helpers ---------------------------------------------------------------------------
    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            try:
                await asyncio.wait_for(self._closing.wait(), seconds)
            except TimeoutError:
                pass

    async def _record(self, family: Family, request: web.Request) -> RecordedRequest:
        try:
            body = await request.json()
        except ValueError:
            body = {"_invalid_json": True}
        record = RecordedRequest(
            family=family,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body if isinstance(body, dict) else {"_not_an_object": body},
            at=time.monotonic(),
        )
        self.requests.append(record)
        return record

    def _next(self, record: RecordedRequest) -> Script:
        if self._script:
            return self._script.popleft()
        if self.responder is not None:
            return self.responder(record)
        return self.default or Fail(500, "fake: script exhausted")

    async def _serve(self, family: Family, request: web.Request) -> web.StreamResponse:
        record = await self._record(family, request)
        item = self._next(record)
        if isinstance(item, Fail):
            await self._pause(item.delay_s)
            body = item.body if item.body is not None else json.dumps(_error_body(family, item.status, item.message))
            return web.Response(status=item.status, text=body, headers=item.headers, content_type="application/json")
        if isinstance(item, Raw):
            return web.Response(status=item.status, text=item.body, content_type=item.content_type)
        if isinstance(item, Drop):
            return await self._drop(family, request, item)
        await self._pause(item.delay_s)
        if not record.streamed:
            return web.json_response(whole_body(family, item, record.body.get("model", "")))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for frame in _stream_frames(family, item, record.body.get("model", "")):
            if _is_text_frame(family, frame):
                await self._pause(item.chunk_delay_s)
            await response.write(frame)
        await response.write_eof()
        return response

    async def _drop(self, family: Family, request: web.Request, item: Drop) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        reply = Reply(item.text, chunk_size=item.chunk_size)
        frames = [f for f in _stream_frames(family, reply, "") if _is_text_frame(family, f)]
        for frame in frames[: item.after]:
            await response.write(frame)
        if request.transport is not None:
            request.transport.close()
        return response

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._serve("openai", request)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._serve("anthropic", request)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        return await self._serve("gemini", request)


# ---- the three protocols -----------------------------------------------------------------------
def _error_body(family: Family, status: int, message: str) -> dict[str, Any]:
    if family == "anthropic":
        kind = "rate_limit_error" if status == 429 else "api_error" if status >= 500 else "invalid_request_error"
        return {"type": "error", "error": {"type": kind, "message": message}}
    if family == "gemini":
        return {"error": {"code": status, "message": message, "status": "UNAVAILABLE" if status >= 500 else "ERROR"}}
    return {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error"}}


def whole_body(family: Family, reply: Reply, model: str) -> dict[str, Any]:
    tokens = max(1, len(reply.text) // 4)
    calls = reply.tool_calls
    if family == "anthropic":
        blocks: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text or not calls else []
        blocks += [
            {"type": "tool_use", "id": reply.call_id(i), "name": c.name, "input": c.value()}
            for i, c in enumerate(calls)
        ]
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": reply.finish_reason or ("tool_use" if calls else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": tokens},
        }
    if family == "gemini":
        parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text or not calls else []
        parts += [c.gemini_part() for c in calls]
        return {
            "candidates": [
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": reply.finish_reason or "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": tokens, "totalTokenCount": 10 + tokens},
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": _openai_message(reply),
                "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop"),
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens},
    }


def _openai_message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or (None if reply.tool_calls else "")}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": reply.call_id(i), "type": "function", "function": {"name": c.name, "arguments": c.text()}}
            for i, c in enumerate(reply.tool_calls)
        ]
    return message


def _sse(data: dict[str, Any] | str, event: str | None = None, newline: str = "\n") -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {payload}{newline}{newline}".encode()


def _is_text_frame(family: Family, frame: bytes) -> bool:
    if family == "anthropic":
        return frame.startswith(b"event: content_block_delta")
    if family == "gemini":
        return b'"parts"' in frame
    return b'"delta": {"content"' in frame


def _stream_frames(family: Family, reply: Reply, model: str) -> list[bytes]:
    pieces = reply.pieces()
    tokens = max(1, len(reply.text) // 4)
    if family == "anthropic":
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": []}
        frames = [
            _sse(
                {"type": "message_start", "message": {**message, "usage": {"input_tokens": 10, "output_tokens": 1}}},
                "message_start",
            ),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        frames += [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                "content_block_delta",
            )
            for piece in pieces
        ]
        frames.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        for i, call in enumerate(reply.tool_calls):
            block = {"type": "tool_use", "id": reply.call_id(i), "name": call.name, "input": {}}
            frames.append(
                _sse({"type": "content_block_start", "index": i + 1, "content_block": block}, "content_block_start")
            )
            frames += [
                _sse(
                    {
                        "type": "content_block_delta",
                        "index": i + 1,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                    "content_block_delta",
                )
                for piece in reply.call_pieces(i)
            ]
            frames.append(_sse({"type": "content_block_stop", "index": i + 1}, "content_block_stop"))
        stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
        frames += [
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": tokens},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return frames
    if family == "gemini":
        frames = []
        for index, piece in enumerate(pieces):
            candidate: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            chunk: dict[str, Any] = {"candidates": [candidate]}
            if index == len(pieces) - 1:
                candidate["finishReason"] = reply.finish_reason or "STOP"
                chunk["usageMetadata"] = {"promptTokenCount": 10, "candidatesTokenCount": tokens}
            frames.append(_sse(chunk, newline="\r\n"))
        for call in reply.tool_calls:
            content = {"parts": [call.gemini_part()], "role": "model"}
            frames.append(_sse({"candidates": [{"content": content, "index": 0}]}))
        return frames
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    frames = [
        b": OPENROUTER PROCESSING\n\n",
        _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}),
    ]
    frames += [
        _sse({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        for piece in pieces
    ]
    frames += _openai_call_frames(base, reply)
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    frames += [_sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}), _sse("[DONE]")]
    return frames


def _openai_call_frames(base: dict[str, Any], reply: Reply) -> list[bytes]:
    """Each call's head (id, name), then the calls' argument pieces interleaved, as servers that
    stream parallel calls do: only `index` says which call a piece belongs to."""

    def frame(delta: dict[str, Any]) -> bytes:
        return _sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}]})

    frames = [
        frame({"index": i, "id": reply.call_id(i), "type": "function", "function": {"name": c.name, "arguments": ""}})
        for i, c in enumerate(reply.tool_calls)
    ]
    pieces = [reply.call_pieces(i) for i in range(len(reply.tool_calls))]
    for round_ in range(max((len(p) for p in pieces), default=0)):
        frames += [
            frame({"index": i, "function": {"arguments": p[round_]}}) for i, p in enumerate(pieces) if round_ < len(p)
        ]
    return frames


async def _serve_forever(port: int, reply: str) -> None:
    server = FakeLLMServer(default=Reply(reply))
    await server.start(port)
    print(f"fake LLM on {server.url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """`python -m tests.fake_llm --reply '{...}'`: a standalone fake for tests that run real processes
    (point them at it with LLM_PROVIDER=openai-compatible LLM_BASE_URL=http://127.0.0.1:PORT/v1 LLM_MODEL=x)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reply", default='{"action_type": "ActionResponse", "content": "Hello from the fake LLM."}')
    args = parser.parse_args()
    asyncio.run(_serve_forever(args.port, args.reply))


if __name__ == "__main__":
    main()
