"""Stored or live messages as a readable timeline: decode, one-line summary, JSON form.

Shared by `pagi replay`, `pagi tail` and the edge's `/v1/audit`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bus_schemas import DecodeError, Envelope, decode
from bus_schemas.codec import PUBLISHER_HEADER, stored_event_id
from bus_schemas.subjects import DEAD_LETTER, DEAD_LETTER_PREFIX, SESSION_EVENT_TYPES, check_token

from .bus import StoredMessage
from .redact import scrub, scrub_text
from .tracecontext import TRACEPARENT, trace_id

EVENT_TYPES: Final = (*SESSION_EVENT_TYPES, DEAD_LETTER)
_WIDTH: Final = 100


@dataclass(frozen=True)
class Entry:
    seq: int
    time: datetime
    subject: str
    event: Envelope[Any] | None
    # Why the stored payload is not a valid event (the consumer dead-lettered it).
    error: str | None = None
    # From the message's headers: the trace it belongs to and the service that published it.
    trace_id: str | None = None
    service: str | None = None

    @property
    def event_type(self) -> str:
        if self.event is not None:
            return self.event.type
        if self.subject.startswith(f"{DEAD_LETTER_PREFIX}."):
            return DEAD_LETTER
        return ".".join(self.subject.split(".")[:2])


def entry_of(stored: StoredMessage, stream: str = "PAGI_EVENTS") -> Entry:
    try:
        # The same fallback id the consume loop derives, so a bare body shows the id it was handled
        # under; only needed without a Nats-Msg-Id (uuid5 per event is a fifth of replay's time).
        fallback = None if "Nats-Msg-Id" in stored.headers else stored_event_id(stream, stored.seq)
        event = decode(stored.subject, stored.data, stored.headers, fallback_id=fallback)
        error = None
    except DecodeError as exc:
        event, error = None, exc.reason
    trace = trace_id(stored.headers.get(TRACEPARENT))
    return Entry(stored.seq, stored.time, stored.subject, event, error, trace, stored.headers.get(PUBLISHER_HEADER))


def session_filters(session_id: str, event_types: list[str] | None = None) -> list[str]:
    """Filter subjects for one session (or `*`), optionally only some event types."""
    token = "*" if session_id == "*" else check_token(session_id)
    if not event_types:
        return [f"*.*.{token}", f"{DEAD_LETTER_PREFIX}.*.*.{token}"]
    return [f"{DEAD_LETTER_PREFIX}.*.*.{token}" if t == DEAD_LETTER else f"{t}.{token}" for t in event_types]


def check_event_types(text: str | None) -> list[str]:
    """`chat.in,plan.action` -> the list; unknown types raise ValueError naming the valid ones."""
    if not text:
        return []
    types = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return types


def _clip(text: str, width: int = _WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(event: Envelope[Any]) -> str:
    """One line saying what happened; never a secret (scrubbed), never more than a line."""
    return scrub_text(_clip(_summary(event.type, event.body)))


def _summary(event_type: str, body: Any) -> str:
    get = body.__dict__.get
    if event_type == "chat.in":
        return f"user {get('user_id') or '?'}: {get('message', '')}"
    if event_type == "chat.out":
        prefix = "" if get("is_final", True) else "(chunk) "
        return f"{prefix}[{get('status', '')}] {get('content', '')}"
    if event_type in ("plan.action", "approve.request"):
        action = get("action")
        what = _action(action) if action is not None else "?"
        if event_type == "plan.action":
            return f"step {get('step', '?')} {what} (by {get('decided_by', '?')})"
        return f"approval {get('approval_id')} asks for {what} (policy {get('policy', '?')})"
    if event_type == "approve.decision":
        verdict = "approved" if get("approved") else "denied"
        always = " (always)" if get("always") else ""
        return f"approval {get('approval_id')} {verdict}{always} by {get('decided_by')}"
    if event_type == "memory.query":
        return f"query {get('query', '')!r} in {get('namespace', '?')} top {get('top_k', '?')}"
    if event_type == "memory.store":
        items = get("items") or []
        return f"store {len(items) or 1} item(s) in {get('namespace', '?')}/{get('kb', '?')}"
    if event_type == "memory.result":
        if get("error"):
            return f"error {get('error_kind') or ''}: {get('error')}"
        hits = get("hits") or []
        stored = get("stored_ids") or ([get("stored_id")] if get("stored_id") else [])
        return f"{len(hits)} hit(s)" + (f", stored {len(stored)}" if stored else "")
    if event_type == "tool.run":
        return f"run {get('tool_name')} {json.dumps(scrub(get('args') or {}))}"
    if event_type == "tool.result":
        error = f" error: {get('error')}" if get("error") else ""
        took = f"{get('duration_ms', 0):.0f} ms"
        return f"{get('tool_name')} exit {get('exit_code')} in {took} ({get('isolation')}){error}"
    if event_type == "build.req":
        return f"build {get('tool_name')} ({get('language')})"
    if event_type == "build.result":
        verdict = "built" if get("success") else "failed"
        error = f": {get('error')}" if get("error") else ""
        return f"{get('tool_name')} {verdict} (version {get('version')}, exit {get('exit_code')}){error}"
    if event_type == "job.log":
        status = f" [{get('status')}]" if get("status") else ""
        return f"{get('service')} {get('level')}{status}: {get('message', '')}"
    if event_type == "job.cancel":
        return f"cancel {get('job_id')} by {get('requested_by')}"
    if event_type == DEAD_LETTER:
        return f"dead letter from {get('consumer')}: {get('reason')}"
    return json.dumps(body.model_dump(mode="json"))


def _action(action: Any) -> str:
    kind = getattr(action, "action_type", "?")
    detail = {
        "ActionResponse": getattr(action, "content", None),
        "ActionTool": getattr(action, "tool_name", None),
        "ActionMemory": getattr(action, "query", None),
        "ActionBuildTool": getattr(action, "tool_name", None),
        "ActionSelfImprove": getattr(action, "rationale", None),
    }.get(kind)
    return f"{kind}({_clip(str(detail), 60)})" if detail else str(kind)


def line(entry: Entry) -> str:
    """`time  #seq  subject  type  summary`, for a terminal."""
    when = entry.time.astimezone(UTC).isoformat(" ", "milliseconds")[:23]
    text = summary(entry.event) if entry.event is not None else f"UNDECODABLE: {entry.error}"
    seq = f"#{entry.seq:<7}" if entry.seq else "live    "  # a live message (pagi tail) has no stream position
    return f"{when}  {seq} {entry.subject:<40} {entry.event_type:<16} {text}"


def as_json(entry: Entry) -> dict[str, Any]:
    """The full event (secrets scrubbed), with where and when the stream stored it."""
    out: dict[str, Any] = {
        "seq": entry.seq,
        "time": entry.time.astimezone(UTC).isoformat(),
        "subject": entry.subject,
        "type": entry.event_type,
        "trace_id": entry.trace_id,
        "service": entry.service,
    }
    if entry.event is not None:
        out["event"] = scrub(entry.event.model_dump(mode="json"))
    else:
        out["error"] = entry.error
    return out


_RELATIVE: Final = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time (UTC when it names no zone) or an age such as `90s`, `15m`, `2h`, `7d`."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        return (now or datetime.now(UTC)) - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(f"since {text!r} is neither an ISO-8601 time nor an age like 15m, 2h, 7d") from None


def parse_iso(text: str) -> datetime:
    """An ISO-8601 date or time, UTC when it names no zone (ValueError otherwise)."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_when(text: str) -> datetime:
    """Unix seconds, or an ISO-8601 date or time (UTC when it names no zone): how every `since` and
    `until` a person types is read. ValueError names what was wrong."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is neither unix seconds nor an ISO 8601 date or time") from None
