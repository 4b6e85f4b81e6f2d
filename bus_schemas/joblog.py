"""Job status, progress and log lines, from every service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .envelope import Body
from .jobs import JobState

LogLevel = Literal["plan", "tool", "memory", "error", "warn", "info"]


class JobLog(Body):
    level: LogLevel
    message: str = Field(max_length=16_000)
    service: str = Field(max_length=64)
    status: JobState | None = None
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
