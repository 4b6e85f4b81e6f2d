"""W3C trace context carried in NATS headers, so one trace follows a job across services; and a
caller's own `X-Trace-ID` (any short id, as the seed's guide sends `test-trace-123`), mapped onto one."""

from __future__ import annotations

import hashlib
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

TRACEPARENT: Final = "traceparent"
_TRACEPARENT_RE: Final = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

current_traceparent: ContextVar[str | None] = ContextVar("current_traceparent", default=None)


def new_traceparent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def child_traceparent(parent: str | None) -> str:
    """Same trace and flags (an unsampled trace stays unsampled downstream), new span id; a
    malformed or missing parent starts a new trace."""
    match = _TRACEPARENT_RE.match(parent or "")
    if match is None:
        return new_traceparent()
    return f"00-{match.group(1)}-{os.urandom(8).hex()}-{match.group(3)}"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT_RE.match(traceparent or "")
    return match.group(1) if match else None


# --- a caller's own trace id (`X-Trace-ID`), kept as given -----------------------------------------

MAX_CALLER_TRACE_ID: Final = 128
# Ids people and tools use (uuids, `test-trace-123`, base64): nothing a log line or a header could
# be confused by.
_CALLER_TRACE_RE: Final = re.compile(r"^[A-Za-z0-9._~:@/+=-]+$")
_W3C_TRACE_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class CallerTrace:
    """What an `X-Trace-ID` header means: the W3C trace id the spans use, the caller's id to answer
    with and record (None when the header was absent or refused), and why it was refused."""

    trace_id: str | None
    given: str | None
    problem: str | None = None


def w3c_trace_id_for(given: str) -> str:
    """The W3C trace id a caller's id stands for: itself when it already is one (32 lowercase hex
    digits, not all zero), else the same 32 hex digits every time for the same id (a hash), so every
    edge maps one caller id onto one trace."""
    low = given.lower()
    if _W3C_TRACE_ID_RE.match(low) and low.strip("0"):
        return low
    digest = hashlib.sha256(b"pagi-x-trace-id:" + given.encode()).hexdigest()[:32]
    return digest if digest.strip("0") else "1".rjust(32, "0")


def caller_trace(header: str | None) -> CallerTrace:
    """Read an `X-Trace-ID` header. A refused one (too long, characters outside the allowed set) is
    replaced by a new trace and the reason says why; its text is never repeated anywhere."""
    if header is None or header == "":
        return CallerTrace(None, None)
    if len(header) > MAX_CALLER_TRACE_ID:
        return CallerTrace(None, None, f"X-Trace-ID ignored: longer than {MAX_CALLER_TRACE_ID} characters")
    if not _CALLER_TRACE_RE.match(header):
        return CallerTrace(
            None, None, "X-Trace-ID ignored: use only letters, digits and . _ ~ : @ / + = - (no spaces or controls)"
        )
    return CallerTrace(w3c_trace_id_for(header), header)
