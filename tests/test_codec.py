"""The wire contract: codec round trips, hand-written JSON, and clear validation errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus_schemas import (
    ActionTool,
    ApprovalRequest,
    ChatIn,
    ChatOut,
    DecodeError,
    Envelope,
    PlanAction,
    ToolRun,
    decode,
    derived_id,
    encode,
    new_id,
)
from bus_schemas.__main__ import export
from bus_schemas.codec import Format
from bus_schemas.limits import MAX_JSON_DEPTH
from bus_schemas.registry import EVENT_BODIES
from bus_schemas.safe_json import PayloadError, loads_json, loads_msgpack
from bus_schemas.subjects import SubjectError, parse_subject, session_subject


def _plan(session: str = "s1") -> Envelope[Any]:
    action = ActionTool(tool_name="command_exec", args={"cmd": "uname -a"})
    return Envelope[PlanAction](
        type="plan.action",
        session_id=session,
        job_id="job1",
        body=PlanAction(action=action, raw_decision='{"tool": "command_exec"}', decided_by="deterministic"),
    )


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_round_trip_keeps_every_field(fmt: str) -> None:
    event = _plan()
    data, headers = encode(event, fmt)  # type: ignore[arg-type]
    assert headers["Nats-Msg-Id"] == event.id
    decoded = decode("plan.action.s1", data, headers)
    assert decoded == event
    assert isinstance(decoded.body.action, ActionTool)


def test_format_is_detected_by_first_byte_without_headers() -> None:
    event = _plan()
    formats: tuple[Format, ...] = ("msgpack", "json")
    for fmt in formats:
        data, _ = encode(event, fmt)
        assert decode("plan.action.s1", data) == event


def test_json_is_the_default_and_says_so_in_its_content_type() -> None:
    data, headers = encode(_plan())
    assert headers["Content-Type"] == "application/json"
    assert json.loads(data)["body"]["action"]["tool_name"] == "command_exec"


@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        (msgpack.packb({"message": "hi"}), "application/json", "not valid JSON"),
        (b'{"message": "hi"}', "application/msgpack", "not valid msgpack"),
    ],
)
def test_the_content_type_decides_over_the_first_byte(data: bytes, content_type: str, reason: str) -> None:
    # A publisher's header is believed: a payload that contradicts it is refused, not guessed at.
    with pytest.raises(DecodeError, match=reason):
        decode("chat.in.s1", data, {"Content-Type": content_type}, fallback_id="x")
    assert decode("chat.in.s1", data, None, fallback_id="x").body == ChatIn(message="hi")


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_an_event_over_the_size_limit_is_not_encoded(fmt: Format) -> None:
    body = ToolRun(request_id="r1", tool_name="write_file", args={"content": "x" * (1024 * 1024)})
    event = Envelope[ToolRun](type="tool.run", session_id="s1", body=body)
    with pytest.raises(ValueError, match="over the 1048576 limit"):
        encode(event, fmt)


def test_hand_written_json_body_as_the_nats_cli_sends_it() -> None:
    event = decode("chat.in.demo", b'{"message":"hello"}', None, fallback_id="seq-1")
    assert event.type == "chat.in" and event.session_id == "demo" and event.id == "seq-1"
    assert event.body == ChatIn(message="hello")
    with_id = decode("chat.in.demo", b'{"message":"hi"}', {"Nats-Msg-Id": "mine"}, fallback_id="seq-2")
    assert with_id.id == "mine"


def test_bare_chat_in_takes_the_session_from_the_body_or_default() -> None:
    assert decode("chat.in", b'{"message":"a","session_id":"ops"}', None, "x").session_id == "ops"
    assert decode("chat.in", b'{"message":"a"}', None, "x").session_id == "default"
    with pytest.raises(DecodeError, match="invalid session id"):
        decode("chat.in", b'{"message":"a","session_id":"no spaces"}', None, "x")


@pytest.mark.parametrize(
    ("subject", "payload", "reason"),
    [
        ("chat.in.s1", b'{"message": 5}', "message: Input should be a valid string"),
        ("chat.in.s1", b'{"message": "hi", "colour": "red"}', "colour: Extra inputs are not permitted"),
        ("chat.in.s1", b'{"msg": "hi"}', "message: Field required"),
        ("chat.in.s1", b"[]", "must be an object"),
        ("chat.in.s1", b"{oops", "not valid JSON"),
        ("chat.in.s1", b"\xc1", "not valid msgpack"),
        # Typed text without a Content-Type is guessed to be msgpack; the reason says why it is not JSON.
        ("chat.in.s1", b"not json", "neither JSON nor msgpack: as JSON, invalid literal"),
        ("chat.in.s1", b"x" * (1024 * 1024 + 1), "over the 1048576 limit"),
        ("nope.in.s1", b"{}", "unknown event type"),
        ("chat.in.a.b.c", b"{}", "is not <family>.<kind>"),
    ],
)
def test_invalid_input_names_what_was_wrong(subject: str, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(subject, payload, None, fallback_id="x")


def test_unknown_schema_version_and_mismatched_envelopes_are_rejected() -> None:
    good = _plan().model_dump(mode="json")
    changes: list[tuple[dict[str, Any], str]] = [
        ({"schema_version": 2}, "unsupported schema_version 2"),
        ({"type": "chat.out"}, "does not match subject type"),
        ({"session_id": "other"}, "does not match the subject's"),
    ]
    for change, reason in changes:
        with pytest.raises(DecodeError, match=reason):
            decode("plan.action.s1", msgpack.packb({**good, **change}))


def test_action_union_is_discriminated_on_action_type() -> None:
    raw = _plan().model_dump(mode="json")
    raw["body"]["action"] = {"action_type": "ActionTool", "query": "x"}
    with pytest.raises(DecodeError, match="tool_name"):
        decode("plan.action.s1", json.dumps(raw).encode())
    raw["body"]["action"] = {"action_type": "ActionLaunchMissiles"}
    with pytest.raises(DecodeError, match="action"):
        decode("plan.action.s1", json.dumps(raw).encode())


def test_validation_errors_never_echo_the_input_value() -> None:
    secret = "sk-live-" + "a" * 40
    with pytest.raises(DecodeError) as info:
        decode("approve.request.s1", json.dumps({"approval_id": 1, "token": secret}).encode(), None, "x")
    assert secret not in info.value.reason


def test_subjects_end_in_the_session_and_parse_back() -> None:
    assert session_subject("chat.out", "demo") == "chat.out.demo"
    parsed = parse_subject("job.log.demo")
    assert (parsed.event_type, parsed.token) == ("job.log", "demo")
    assert parse_subject("dlq.chat.in.demo").event_type == "dead_letter"
    with pytest.raises(SubjectError):
        session_subject("chat.out", "a.b")
    with pytest.raises(SubjectError):
        session_subject("chat.sideways", "demo")


def test_caused_events_have_stable_ids_so_redelivery_is_deduplicated() -> None:
    question = Envelope[ChatIn](type="chat.in", session_id="s1", body=ChatIn(message="hi"))
    first = question.caused("answer", "chat.out", ChatOut(content="a"))
    again = question.caused("answer", "chat.out", ChatOut(content="a"))
    assert first.id == again.id != question.id
    assert first.causation_id == question.id and first.session_id == "s1"


def test_export_writes_a_json_schema_per_event(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert len(written) == 2 * len(EVENT_BODIES)
    schema = json.loads((tmp_path / "approve.request.body.schema.json").read_text())
    assert schema["title"] == ApprovalRequest.__name__
    assert set(schema["required"]) >= {"approval_id", "action", "reason", "policy"}
    envelope = json.loads((tmp_path / "chat.in.envelope.schema.json").read_text())
    assert {"id", "type", "session_id", "body"} <= set(envelope["properties"])


DEEP_JSON = (b"[" * 5000, b'{"a":' * 5000, b'{"message": "hi", "x": ' + b"[" * 5000)
DEEP_MSGPACK = (b"\x91" * 5000, b"\x81\xa1a" * 5000, b"\x91" * 200 + b"\xc0")


@pytest.mark.parametrize("payload", DEEP_JSON + DEEP_MSGPACK)
@pytest.mark.parametrize("subject", ["chat.in.s1", "build.req.s1", "tool.run.s1"])
def test_deep_payloads_are_a_decode_error_naming_the_depth(subject: str, payload: bytes) -> None:
    # Before the bounded decoder, json.loads raised RecursionError here, which no reader caught.
    with pytest.raises(DecodeError, match=f"nested deeper than {MAX_JSON_DEPTH} levels") as info:
        decode(subject, payload, None, fallback_id="x")
    assert info.value.session_id == "s1"


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_depth_limit_is_exact_and_a_legitimate_deep_argument_passes(fmt: str) -> None:
    def nest(levels: int) -> Any:
        value: Any = "leaf"
        for _ in range(levels):
            value = [value]
        return value

    def payload(args_depth: int) -> bytes:
        # envelope-less bare body: the body object (1) + args (1) + the nested lists
        body = {"tool_name": "echo", "args": {"v": nest(args_depth)}, "request_id": "r1", "approval_id": None}
        return json.dumps(body).encode() if fmt == "json" else msgpack.packb(body)

    top = MAX_JSON_DEPTH - 2  # exactly at the limit
    assert loads_payload(payload(top), fmt) is not None
    with pytest.raises(PayloadError, match="nested deeper"):
        loads_payload(payload(top + 1), fmt)


def loads_payload(data: bytes, fmt: str) -> Any:
    return loads_json(data) if fmt == "json" else loads_msgpack(data)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xc4\x01a", "not valid msgpack"),  # bin: JSON has no bytes
        (b"\xd4\x05a", "not valid msgpack"),  # an extension type
        (b"\xc7\x00\x05", "extension type 5 is not accepted"),
        (b"\x81\x01\x02", "not allowed for map key"),
        (b"\x81\x91\x01\x02", "not allowed for map key"),
    ],
)
def test_msgpack_is_read_as_json_types_only(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode("chat.in.s1", payload, {"Content-Type": "application/msgpack"}, fallback_id="x")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"message": "\\ud800"}', "no low surrogate"),  # json.loads accepted it; packb then failed
        (b'{"message": ' + b"1" * 5000 + b"}", "not valid JSON"),  # json.loads: ValueError (int digits)
        (b'{"message": NaN}', "not valid JSON"),
    ],
)
def test_json_that_could_not_be_written_out_again_is_refused_at_the_door(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode("chat.in.s1", payload, None, fallback_id="x")


def test_bounded_decoders_check_size_before_parsing() -> None:
    with pytest.raises(PayloadError, match="frame is 11 bytes, over the 10 limit"):
        loads_json(b'"' + b"x" * 9 + b'"', what="frame", max_bytes=10)
    with pytest.raises(PayloadError, match="is 4 bytes, over the 3 limit"):
        loads_json("é[]", max_bytes=3)  # measured in UTF-8 bytes, not characters
    with pytest.raises(PayloadError, match="over the 3 limit"):
        loads_msgpack(msgpack.packb("abcd"), max_bytes=3)


@given(st.text(max_size=200), st.text(max_size=40))
def test_derived_ids_are_the_uuid5_they_always_were(parent_id: str, purpose: str) -> None:
    # Ids derived before the fast path are in recorded streams: a redelivery must still match them.
    assert derived_id(parent_id, purpose) == uuid.uuid5(uuid.NAMESPACE_URL, f"pagi:{parent_id}:{purpose}").hex


def test_new_ids_are_random_version_4_uuids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 and len(i) == 32 for i in ids)
