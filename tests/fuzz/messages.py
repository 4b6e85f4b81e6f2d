"""Bad bus messages drawn with hypothesis: every one must be refused by the codec or the handler's
validation (so each gets exactly one dead letter), never crash a handler.

Kinds: random bytes, truncated msgpack of a real envelope, JSON of the wrong shape, a bare body with
unknown fields, huge strings, unknown schema versions, a payload session that is not the subject's,
subjects whose session token is not a valid session id, and JSON or msgpack nested deeper than the
decoders read (65 to 5,000 levels, on its own or inside a body's field).

Hypothesis draws flat tuples (kind, event type, session, a number, some bytes, a JSON value) in
batches; rendering them is plain code. Drawing 10,000 nested `one_of`/`builds` examples took
minutes of CPU on this machine, this takes seconds.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# Every subject a durable consumer reads (bus_schemas.streams), by its event type.
CONSUMED = (
    "chat.in",
    "approve.decision",
    "job.cancel",
    "memory.result",
    "tool.result",
    "build.result",
    "memory.query",
    "memory.store",
    "tool.run",
    "build.req",
)
BAD_TOKENS = ("a" * 65, "bad$chars", "ümlaut", "semi;colon", "quote'", "dot%")
KINDS = ("bytes", "truncated", "wrong_shape", "bare_unknown", "version", "other_session", "bad_token", "huge", "deep")

Message = tuple[str, bytes, dict[str, str]]  # subject, payload, headers

JSON = {"Content-Type": "application/json"}
MSGPACK = {"Content-Type": "application/msgpack"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
draws = st.tuples(
    st.integers(0, len(KINDS) - 1),
    st.integers(0, len(CONSUMED) - 1),
    st.integers(0, 7),
    st.integers(0, 2**31),
    st.binary(min_size=1, max_size=80),
    json_values,
)


def _envelope(event_type: str, session: str, body: Any, version: int = 1) -> dict[str, Any]:
    return {"id": "f" * 32, "type": event_type, "schema_version": version, "ts": "2026-11-25T00:00:00Z",
            "session_id": session, "body": body}  # fmt: skip


def render(prefix: str, draw: tuple[int, int, int, int, bytes, Any]) -> Message:
    kind_i, type_i, session_i, number, data, value = draw
    kind, event_type, session = KINDS[kind_i], CONSUMED[type_i], f"{prefix}-{session_i}"
    subject = f"{event_type}.{session}"
    if kind == "bytes":
        # Anything not starting with "{" (a bare JSON object could be a valid body).
        return subject, (data if not data.lstrip().startswith(b"{") else b"\xc1" + data), {}
    if kind == "truncated":
        whole = msgpack.packb(_envelope(event_type, session, {"message": "cut"}))
        return subject, whole[: max(1, (len(whole) - 1) * (number % 100) // 100)], MSGPACK
    if kind == "wrong_shape":
        # No event body is a list, a scalar or an object keyed by random text plus "zz_unknown".
        body = {"zz_unknown": value} if isinstance(value, dict) else value
        return subject, json.dumps({"type": event_type, "body": body}).encode(), JSON
    if kind == "bare_unknown":
        return subject, json.dumps({"zz_unknown": value, "message": 5}).encode(), JSON
    if kind == "version":
        return subject, msgpack.packb(_envelope(event_type, session, {"message": "hi"}, 2 + number % 1000)), MSGPACK
    if kind == "other_session":
        return subject, json.dumps(_envelope(event_type, session + "x", {"message": "hi"})).encode(), JSON
    if kind == "bad_token":
        return f"{event_type}.{BAD_TOKENS[number % len(BAD_TOKENS)]}", b'{"message": "hi"}', JSON
    if kind == "deep":
        return subject, *_deep(number)
    # huge: a string field far over every limit (a bare chat.in accepts 32,000 characters)
    return f"{event_type}.{prefix}-huge", json.dumps({"message": "x" * (40_000 + number % 200_000)}).encode(), JSON


def _deep(number: int) -> tuple[bytes, dict[str, str]]:
    """Nested 65-5,000 levels: arrays or objects, JSON or msgpack, bare or as a body's field."""
    depth = 65 + number % 4936
    if number % 2:
        inner = b"\x91" * depth + b"\xc0" if number % 3 else b"\x81\xa1a" * depth + b"\xc0"
        return (b"\x81\xa7message" + inner if number % 5 == 0 else inner), MSGPACK
    opening, closing = (b"[", b"]") if number % 3 else (b'{"a":', b"}")
    inner = opening * depth + b"1" + closing * depth
    return (b'{"message": ' + inner + b"}" if number % 5 == 0 else inner), JSON


def generate(prefix: str, count: int, batch: int = 100) -> list[Message]:
    """`count` bad messages; at most two huge ones per batch (they are 40-240 KB each)."""
    out: list[Message] = []

    @settings(max_examples=max(1, count // batch), database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.lists(draws, min_size=batch, max_size=batch))
    def collect(batch_draws: list[tuple[int, int, int, int, bytes, Any]]) -> None:
        huge = 0
        for draw in batch_draws:
            if KINDS[draw[0]] == "huge":
                huge += 1
                if huge > 2:
                    draw = (0, *draw[1:])
            out.append(render(prefix, draw))

    while len(out) < count:
        collect()
    return out[:count]
