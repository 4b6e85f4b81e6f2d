"""Bytes <-> events. JSON on the wire by default (`PAGI_WIRE_FORMAT=msgpack` selects msgpack for a
deployment); both are read everywhere, told apart by `Content-Type` (or the first byte), so services
on different formats share one bus.

A hand-typed publish (`nats pub chat.in.demo '{"message":"hi"}'`) carries only a body: the event
type comes from the subject, the session from the subject's last token (or, on a bare `chat.in`,
from the body's `session_id`), and the id from `Nats-Msg-Id` or the caller's fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import msgpack
from pydantic import ValidationError

from .envelope import SCHEMA_VERSION, Envelope, derived_id
from .limits import MAX_EVENT_BYTES
from .registry import ENVELOPE_MODELS, EVENT_BODIES
from .safe_json import PayloadError, loads_json, loads_msgpack
from .subjects import DEFAULT_SESSION, TELEMETRY_HOST, SubjectError, check_token, parse_subject

Format = Literal["msgpack", "json"]
FORMATS: Final[tuple[Format, ...]] = ("json", "msgpack")
DEFAULT_FORMAT: Final[Format] = "json"
CONTENT_TYPES: Final[dict[Format, str]] = {"msgpack": "application/msgpack", "json": "application/json"}
_JSON_FIRST_BYTES: Final = frozenset(b"{[ \t\r\n")
# Which service published an event (set by the bus runtime), so the audit log shows every hop.
PUBLISHER_HEADER: Final = "Pagi-Service"


class DecodeError(ValueError):
    """The payload is not a valid event; `session_id` is our best guess for where to report it."""

    def __init__(self, reason: str, session_id: str = DEFAULT_SESSION) -> None:
        super().__init__(reason)
        self.reason = reason
        self.session_id = session_id


def stored_event_id(stream: str, seq: int) -> str:
    """The id of a bare body (no envelope, no Nats-Msg-Id), stable for every reader of the stream."""
    return derived_id(f"{stream}:{seq}", "bare-body")


def encode(event: Envelope[Any], fmt: Format = DEFAULT_FORMAT) -> tuple[bytes, dict[str, str]]:
    # pydantic-core writes JSON straight from the model (no dict in between): the fast path.
    payload = event.model_dump_json().encode() if fmt == "json" else msgpack.packb(event.model_dump(mode="json"))
    if len(payload) > MAX_EVENT_BYTES:
        raise ValueError(f"{event.type} event is {len(payload)} bytes, over the {MAX_EVENT_BYTES} limit")
    return payload, {"Content-Type": CONTENT_TYPES[fmt], "Nats-Msg-Id": event.id}


def detect_format(data: bytes, headers: Mapping[str, str] | None) -> Format:
    content_type = (headers or {}).get("Content-Type", "")
    if "json" in content_type:
        return "json"
    if "msgpack" in content_type:
        return "msgpack"
    return "json" if data[:1] and data[0] in _JSON_FIRST_BYTES else "msgpack"


def parse_payload(data: bytes, headers: Mapping[str, str] | None, session_hint: str = DEFAULT_SESSION) -> Any:
    """The payload as plain Python values, bounded in size and depth (`safe_json`), or DecodeError."""
    fmt = detect_format(data, headers)
    try:
        return loads_json(data) if fmt == "json" else loads_msgpack(data)
    except PayloadError as exc:
        raise DecodeError(_as_typed(data, headers, fmt, exc.reason), session_hint) from None


def _as_typed(data: bytes, headers: Mapping[str, str] | None, fmt: Format, reason: str) -> str:
    """What went wrong, as the sender meant it: text without a Content-Type (`nats pub s 'hello'`) was
    guessed to be msgpack, but a person typed it, so say why it is not JSON."""
    if fmt == "json" or "Content-Type" in (headers or {}):
        return reason
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return reason
    try:
        loads_json(data)
    except PayloadError as as_json:
        return f"payload is neither JSON nor msgpack: as JSON, {as_json.reason.partition(': ')[2]}"
    return reason


def decode(
    subject: str,
    data: bytes,
    headers: Mapping[str, str] | None = None,
    fallback_id: str | Callable[[], str] | None = None,
) -> Envelope[Any]:
    """The event in `data`, or DecodeError: whatever goes wrong, nothing else escapes, so a poison
    message is always a dead letter (or a skipped history entry), never a crashed reader.
    `fallback_id`: a bare body's id when it has no Nats-Msg-Id; a callable is called only then (a
    derived id costs more than decoding an event that carries its own)."""
    try:
        return _decode(subject, data, headers, fallback_id)
    except DecodeError:
        raise
    except Exception as exc:  # a validator or model bug: still this message's problem, not the reader's
        raise DecodeError(f"payload could not be decoded: {type(exc).__name__}", _session_hint(subject)) from exc


def _session_hint(subject: str) -> str:
    try:
        return parse_subject(subject).token or DEFAULT_SESSION
    except SubjectError:
        return DEFAULT_SESSION


def _decode(
    subject: str, data: bytes, headers: Mapping[str, str] | None, fallback_id: str | Callable[[], str] | None
) -> Envelope[Any]:
    try:
        parsed = parse_subject(subject)
    except SubjectError as exc:
        raise DecodeError(str(exc)) from exc
    session_hint = parsed.token or DEFAULT_SESSION
    if len(data) > MAX_EVENT_BYTES:
        raise DecodeError(f"payload is {len(data)} bytes, over the {MAX_EVENT_BYTES} limit", session_hint)
    raw = parse_payload(data, headers, session_hint)
    if not isinstance(raw, dict):
        raise DecodeError(f"payload must be an object, got {type(raw).__name__}", session_hint)
    if "type" in raw and "body" in raw:
        return _decode_envelope(raw, parsed.event_type, parsed.token, session_hint)
    msg_id = (headers or {}).get("Nats-Msg-Id") or (fallback_id() if callable(fallback_id) else fallback_id)
    return _decode_bare_body(raw, parsed.event_type, parsed.token, msg_id, session_hint)


def _decode_envelope(raw: dict[str, Any], event_type: str, token: str | None, session_hint: str) -> Envelope[Any]:
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise DecodeError(
            f"unsupported schema_version {raw.get('schema_version')!r} (this build speaks {SCHEMA_VERSION})",
            session_hint,
        )
    if raw["type"] != event_type:
        raise DecodeError(f"event type {raw['type']!r} does not match subject type {event_type!r}", session_hint)
    if token is not None and event_type != TELEMETRY_HOST and raw.get("session_id") != token:
        raise DecodeError(f"session_id {raw.get('session_id')!r} does not match the subject's {token!r}", session_hint)
    try:
        return ENVELOPE_MODELS[event_type].model_validate(raw)
    except ValidationError as exc:
        raise DecodeError(f"invalid {event_type} event: {_summary(exc)}", session_hint) from exc


def _decode_bare_body(
    raw: dict[str, Any], event_type: str, token: str | None, msg_id: str | None, session_hint: str
) -> Envelope[Any]:
    if msg_id is None:
        raise DecodeError("a bare body needs a Nats-Msg-Id header or a stream position", session_hint)
    try:
        body = EVENT_BODIES[event_type].model_validate(raw)
    except ValidationError as exc:
        raise DecodeError(f"invalid {event_type} body: {_summary(exc)}", session_hint) from exc
    session = token or raw.get("session_id") or DEFAULT_SESSION
    try:
        check_token(str(session))
    except SubjectError as exc:
        raise DecodeError(str(exc), DEFAULT_SESSION) from exc
    return Envelope[Any](id=msg_id, type=event_type, session_id=str(session), twin_id=raw.get("twin_id"), body=body)


def _summary(exc: ValidationError) -> str:
    """One line per problem: which field, what was wrong. Input values are left out (may be secret)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
