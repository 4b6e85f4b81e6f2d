"""Live output lines to `job.log.<session>`, published off the tool's read path and bounded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bus_schemas import Envelope, JobLog
from bus_schemas.joblog import LogLevel
from bus_schemas.subjects import JOB_LOG

log = logging.getLogger("pagi.tool_worker.joblog")

Publish = Callable[[Envelope[Any]], Awaitable[object]]
MAX_LINES = 200
MAX_LINE_CHARS = 2000


class LineStreamer:
    """Queue lines as the tool prints them; one task publishes them in order with stable ids."""

    def __init__(
        self, publish: Publish, trigger: Envelope[Any], service: str, label: str, level: LogLevel = "tool"
    ) -> None:
        self.publish = publish
        self.trigger = trigger
        self.service = service
        self.label = label
        self.level = level
        self.count = 0
        self._queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def event(self, purpose: str, message: str, **fields: Any) -> Envelope[Any]:
        body = JobLog(level=self.level, service=self.service, message=message[:MAX_LINE_CHARS], **fields)
        return self.trigger.caused(purpose, JOB_LOG, body)

    async def __aenter__(self) -> LineStreamer:
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._queue.put_nowait(None)
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._task, timeout=10)

    async def line(self, stream: str, text: str) -> None:
        self.count += 1
        if self.count <= MAX_LINES:
            self._queue.put_nowait((stream, text))
        elif self.count == MAX_LINES + 1:
            self._queue.put_nowait(("note", f"more than {MAX_LINES} lines: the rest is in the result only"))

    async def _drain(self) -> None:
        n = 0
        while (item := await self._queue.get()) is not None:
            stream, text = item
            n += 1
            prefix = f"[{self.label}] " if stream == "stdout" else f"[{self.label} {stream}] "
            try:
                await self.publish(self.event(f"line-{n}", prefix + text))
            except Exception as exc:  # a lost log line must not fail the tool run
                log.warning("could not publish a log line: %s", exc)
