"""W3C trace context carried in NATS headers, so one trace follows a job across services."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from typing import Final

TRACEPARENT: Final = "traceparent"
_TRACEPARENT_RE: Final = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")

current_traceparent: ContextVar[str | None] = ContextVar("current_traceparent", default=None)


def new_traceparent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def child_traceparent(parent: str | None) -> str:
    """Same trace, new span id; a malformed or missing parent starts a new trace."""
    match = _TRACEPARENT_RE.match(parent or "")
    if match is None:
        return new_traceparent()
    return f"00-{match.group(1)}-{os.urandom(8).hex()}-01"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT_RE.match(traceparent or "")
    return match.group(1) if match else None
