"""The wire contract: codec round trips, hand-written JSON, and clear validation errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bus_schemas import (
    ActionTool,
    ApprovalRequest,
    ChatIn,
    ChatOut,
    DecodeError,
    Envelope,
    PlanAction,
    decode,
    encode,
)
from bus_schemas.__main__ import export
from bus_schemas.codec import Format
from bus_schemas.registry import EVENT_BODIES
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
        ("chat.in.s1", b"{oops", "not valid json"),
        ("chat.in.s1", b"\xc1", "not valid msgpack"),
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
