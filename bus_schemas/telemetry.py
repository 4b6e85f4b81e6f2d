"""One host's telemetry sample (the telemetry agent owns the detail of this shape)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .envelope import Body


class TelemetrySample(Body):
    host: str
    cpu_percent: float = Field(ge=0)
    memory_percent: float = Field(ge=0)
    extra: dict[str, Any] = Field(default_factory=dict)
