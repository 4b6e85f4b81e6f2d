"""One HTTP attempt against a provider: bounded reads, errors classified as retryable or not, SSE."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from bus_schemas.safe_json import PayloadError, loads_json

from .config import ProviderConfig
from .errors import LLMError, redact
from .retry import RetryableError, retry_after_seconds

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_SSE_LINE_BYTES = 1024 * 1024
REASON_CHARS = 300
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


def short(config: ProviderConfig, text: str) -> str:
    text = redact(" ".join(text.split()), (config.secret(),))
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def fail(config: ProviderConfig, reason: str, status: int | None = None) -> LLMError:
    return LLMError(config.provider, config.model, short(config, reason), status=status)


@asynccontextmanager
async def post(
    session: aiohttp.ClientSession,
    config: ProviderConfig,
    url: str,
    headers: Mapping[str, str],
    payload: Mapping[str, Any],
    *,
    stream: bool,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST `payload` and yield the response once its status is a success. Timeouts and connection
    errors (also while the caller reads the body) become retryable errors."""
    if stream:
        # A long generation may stream for minutes; what must not happen is silence.
        timeout = aiohttp.ClientTimeout(
            total=config.stream_max_s, sock_connect=config.timeout_s, sock_read=config.timeout_s
        )
    else:
        timeout = aiohttp.ClientTimeout(total=config.timeout_s)
    started = time.monotonic()
    all_headers = {**config.extra_headers, **headers, "Content-Type": "application/json"}
    try:
        async with session.post(url, json=dict(payload), headers=all_headers, timeout=timeout) as response:
            if response.status >= 400:
                raise await _status_error(config, response)
            yield response
    except TimeoutError:
        if stream and time.monotonic() - started >= config.stream_max_s:
            reason = f"streamed reply ran over {config.stream_max_s:g} s"
        else:
            reason = f"no answer within {config.timeout_s:g} s"
        raise RetryableError(config.provider, config.model, reason, status=None, retry_after_s=None) from None
    except aiohttp.ClientError as error:
        reason = short(config, f"connection failed: {type(error).__name__}: {error}")
        raise RetryableError(config.provider, config.model, reason, status=None, retry_after_s=None) from None


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body up to `limit` bytes, and whether there was more. (`StreamReader.read(n)` returns
    whatever is buffered, not n bytes, so it cannot be used for a whole body.)"""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


async def read_json(config: ProviderConfig, response: aiohttp.ClientResponse) -> Any:
    body, more = await read_bounded(response, MAX_BODY_BYTES)
    if more:
        raise fail(config, f"reply larger than {MAX_BODY_BYTES} bytes", response.status)
    try:
        return loads_json(body, what="reply", max_bytes=MAX_BODY_BYTES)
    except PayloadError as exc:
        raise fail(config, exc.reason, response.status) from None


async def _status_error(config: ProviderConfig, response: aiohttp.ClientResponse) -> LLMError:
    body, _ = await read_bounded(response, MAX_ERROR_BODY_BYTES)
    reason = short(config, error_message(body) or response.reason or "error")
    status = response.status
    if status in RETRYABLE_STATUSES or status >= 500:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return RetryableError(config.provider, config.model, reason, status=status, retry_after_s=wait)
    return LLMError(config.provider, config.model, reason, status=status)


def error_message(body: bytes | str) -> str:
    """The provider's own words from an error body; all three families use {"error": {"message": ...}}."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = loads_json(text, what="error body", max_bytes=MAX_BODY_BYTES)
    except PayloadError:
        return text.strip()
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = error.get("message") or error.get("type") or error.get("status")
        return str(message) if message else json.dumps(error)[:REASON_CHARS]
    if isinstance(error, str):
        return error
    return text.strip()


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str


async def sse_events(config: ProviderConfig, response: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """Server-sent events as the WHATWG spec frames them (`event:`/`data:` lines, blank line ends one,
    `:` comments ignored); lines are bounded."""
    buffer = b""
    name = ""
    data: list[str] = []
    async for chunk in response.content.iter_any():
        buffer += chunk
        while (newline := buffer.find(b"\n")) >= 0:
            line = buffer[:newline].rstrip(b"\r").decode("utf-8", "replace")
            buffer = buffer[newline + 1 :]
            if not line:
                if data:
                    yield SseEvent(name or "message", "\n".join(data))
                name, data = "", []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if len(buffer) > MAX_SSE_LINE_BYTES:
            raise fail(config, f"stream line longer than {MAX_SSE_LINE_BYTES} bytes", response.status)
    tail = buffer.rstrip(b"\r").decode("utf-8", "replace")
    if tail.startswith("data:"):
        data.append(tail[5:].removeprefix(" "))
    if data:
        yield SseEvent(name or "message", "\n".join(data))


def sse_json(config: ProviderConfig, event: SseEvent) -> dict[str, Any]:
    try:
        value = loads_json(event.data, what="stream event", max_bytes=MAX_BODY_BYTES)
    except PayloadError as exc:
        raise fail(config, exc.reason) from None
    if not isinstance(value, dict):
        raise fail(config, "stream event is not a JSON object")
    return value
