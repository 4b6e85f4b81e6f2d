"""A small SSE reader for tests: parses `id`, `event` and `data` lines, skips keep-alive comments."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse


@dataclass
class SseEvent:
    event: str
    id: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SseReader:
    def __init__(self, response: ClientResponse) -> None:
        self.response = response
        self.pings = 0

    async def next(self, timeout: float = 5.0) -> SseEvent:
        """The next event (not counting keep-alive comments) within `timeout` seconds."""
        async with asyncio.timeout(timeout):
            return await self._next()

    async def _next(self) -> SseEvent:
        fields: dict[str, str] = {}
        data: list[str] = []
        while True:
            raw = await self.response.content.readline()
            if raw == b"":
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if data or fields:
                    return SseEvent(fields.get("event", "message"), fields.get("id"), "\n".join(data))
                continue
            if line.startswith(":"):
                self.pings += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value

    async def until(self, event: str, timeout: float = 5.0) -> list[SseEvent]:
        """Events up to and including the first named `event`."""
        seen = []
        while True:
            got = await self.next(timeout)
            seen.append(got)
            if got.event == event:
                return seen
