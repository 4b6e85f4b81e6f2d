"""The wire format: JSON by default, msgpack by choice (`PAGI_WIRE_FORMAT`), and a mixed deployment.

Every event type is written in both formats and read back by PAGI and by what an operator has (a
plain `json.loads`, `msgpack.unpackb`). Then the real stack as processes (`tests/stack.py`) on one
nats-server, with the planner and the edge on different formats in both directions: a chat answered
end to end, and the stored `PAGI_EVENTS` messages carrying each publisher's content type. The raw
clients here are plain nats-py, as the `nats` CLI sees the bus. Last, a format nobody speaks is a
clear refusal at start, and a payload whose `Content-Type` lies is a dead letter that blocks nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import nats
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import ValidationError

from bus_schemas import (
    ActionTool,
    ApprovalDecision,
    ApprovalRequest,
    BuildRequest,
    BuildResult,
    ChatIn,
    ChatOut,
    Envelope,
    JobLog,
    MemoryHit,
    MemoryQuery,
    MemoryResult,
    MemoryStore,
    PlanAction,
    ToolResult,
    ToolRun,
    decode,
    encode,
)
from bus_schemas.codec import CONTENT_TYPES, DEFAULT_FORMAT, FORMATS, PUBLISHER_HEADER, Format
from bus_schemas.documents import DocumentIngest, DocumentParse, DocumentRef, document_id_of
from bus_schemas.envelope import Body
from bus_schemas.errors import DeadLetter
from bus_schemas.evals import EvalResult, EvalRun
from bus_schemas.jobs import JobCancel
from bus_schemas.memory import MemoryChanged
from bus_schemas.registry import DEAD_LETTER, EVENT_BODIES
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import TELEMETRY_HOST, dead_letter_subject, session_subject, telemetry_subject
from bus_schemas.usage import LlmUsage, RunUsage
from pagi.settings import BusSettings, settings_problem
from telemetry_agent.sampler import Sampler

from .stack import Stack
from .support import eventually

REPO = Path(__file__).resolve().parent.parent
WIRE = "PAGI_WIRE_FORMAT"


# --- every event type, both formats ---------------------------------------------------------------


def _telemetry() -> Body:
    sampler = Sampler("wire-host")
    try:
        return sampler.sample()
    finally:
        sampler.close()


DOCUMENT = DocumentRef(
    document_id=document_id_of("ab" * 32), digest="ab" * 32, filename="runbook.pdf", size=1234, content_type=None
)


def _bodies() -> dict[str, Body]:
    tool = ActionTool(tool_name="command_exec", args={"cmd": "ls -l", "nested": {"list": [1, 2.5, None, "ü"]}})
    return {
        "chat.in": ChatIn(message='héllo \u2013 你好 "quoted" \\ back'),
        "chat.out": ChatOut(content="Here you are", actions_taken=["ActionResponse"], is_final=True),
        "plan.action": PlanAction(action=tool, raw_decision='{"tool": "command_exec"}', decided_by="deterministic"),
        "approve.request": ApprovalRequest(
            approval_id="ap-1",
            kind="tool",
            action=tool,
            summary="command_exec ls -l",
            reason="tools need a person's yes",
            policy="tools.ask",
            expires_at=datetime(2026, 12, 2, 14, 0, tzinfo=UTC) + timedelta(microseconds=123456),
        ),
        "approve.decision": ApprovalDecision(approval_id="ap-1", approved=True, decided_by="ops"),
        "memory.query": MemoryQuery(request_id="q-1", query="ssh keys"),
        "memory.store": MemoryStore(request_id="s-1", text="rotate the SSH keys", metadata={"tags": ["ops"]}),
        "memory.result": MemoryResult(
            request_id="q-1",
            hits=[MemoryHit(id="m-1", score=0.875, text="rotate the SSH keys", kb="mind", namespace="default")],
        ),
        "memory.parse": DocumentParse(request_id="p-1", document=DOCUMENT),
        "memory.ingest": DocumentIngest(request_id="i-1", approval_id="ap-2", document=DOCUMENT, kb="domain"),
        "memory.changed": MemoryChanged(op="forgotten", memory_id="m-1", namespace="default", kb="mind", by="ops"),
        "tool.run": ToolRun(request_id="r-1", tool_name="command_exec", args={"cmd": "ls"}),
        "tool.result": ToolResult(
            request_id="r-1", tool_name="command_exec", exit_code=0, stdout="a\nb\n", duration_ms=1.5, isolation="bwrap"
        ),
        "build.req": BuildRequest(request_id="b-1", tool_name="hello", language="python", code="print('hi')\n"),
        "build.result": BuildResult(request_id="b-1", tool_name="hello", success=True),
        "usage.llm": LlmUsage(
            provider="openai",
            model="gpt-4o-mini",
            input_tokens=812,
            output_tokens=64,
            latency_ms=431.5,
            cost=0.00016,
            twin_id="orchestrator",
            user_id="alice",
            step=1,
        ),
        "usage.run": RunUsage(kind="tool", name="command_exec", wall_ms=12.5, cpu_ms=3.0, twin_id="orchestrator"),
        "eval.run": EvalRun(run_id="run-1", set_id="greetings", prompt_version=3, requested_by="alice"),
        "eval.result": EvalResult(
            run_id="run-1",
            set_id="greetings",
            twin_id="orchestrator",
            prompt_version=3,
            passed=4,
            failed=1,
            pass_rate=0.8,
            started_at=datetime(2026, 12, 4, 6, 0, tzinfo=UTC),
        ),
        "job.log": JobLog(level="info", message="done", service="planner", status="completed", progress=1.0),
        "job.cancel": JobCancel(job_id="job-1", requested_by="ops"),
        TELEMETRY_HOST: _telemetry(),
        DEAD_LETTER: DeadLetter(reason="payload is not valid JSON", subject="chat.in.s1", consumer="planner"),
    }


BODIES = _bodies()


def _event(event_type: str) -> tuple[str, Envelope[Any]]:
    body = BODIES[event_type]
    if event_type == TELEMETRY_HOST:
        return telemetry_subject("wire-host"), Envelope[Any](type=event_type, session_id="wire-host", body=body)
    event = Envelope[Any](type=event_type, session_id="s1", job_id="job-1", twin_id="default", body=body)
    if event_type == DEAD_LETTER:
        return dead_letter_subject("chat.in", "s1"), event
    return session_subject(event_type, "s1"), event


def test_the_samples_cover_every_event_type() -> None:
    assert set(BODIES) == set(EVENT_BODIES)
    assert all(type(BODIES[name]) is model for name, model in EVENT_BODIES.items())


def test_json_is_the_default_everywhere() -> None:
    assert DEFAULT_FORMAT == "json" and FORMATS == ("json", "msgpack")
    _, headers = encode(_event("chat.out")[1])
    assert headers["Content-Type"] == "application/json"
    assert BusSettings.model_validate({}).wire_format == "json"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("event_type", sorted(EVENT_BODIES))
def test_every_event_type_round_trips(event_type: str, fmt: Format) -> None:
    subject, event = _event(event_type)
    data, headers = encode(event, fmt)
    assert headers == {"Content-Type": CONTENT_TYPES[fmt], "Nats-Msg-Id": event.id}
    assert decode(subject, data, headers) == event
    assert decode(subject, data) == event  # no headers: told apart by the first byte
    # What a client that is not PAGI reads: the plain library, no PAGI code.
    plain = json.loads(data) if fmt == "json" else msgpack.unpackb(data, raw=False)
    assert plain == event.model_dump(mode="json")
    assert plain["type"] == event_type and plain["id"] == event.id


@pytest.mark.parametrize("event_type", sorted(EVENT_BODIES))
def test_both_formats_carry_the_same_event(event_type: str) -> None:
    subject, event = _event(event_type)
    as_json, _ = encode(event, "json")
    as_msgpack, _ = encode(event, "msgpack")
    assert decode(subject, as_json) == decode(subject, as_msgpack) == event
    assert as_json.decode("utf-8")  # valid UTF-8 text, as `nats sub` prints it


def test_json_on_the_wire_is_what_an_operator_reads() -> None:
    _, event = _event("approve.request")
    data, _ = encode(event, "json")
    seen = json.loads(data)
    # The approval id and the expiry a person (or a script) needs to decide from the bus alone.
    assert seen["body"]["approval_id"] == "ap-1"
    assert seen["body"]["expires_at"] == "2026-12-02T14:00:00.123456Z"
    assert seen["body"]["action"]["args"]["nested"]["list"] == [1, 2.5, None, "ü"]
    question = _event("chat.in")[1]
    assert json.loads(encode(question, "json")[0])["body"]["message"] == question.body.message


# --- the setting --------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [("json", "json"), ("msgpack", "msgpack"), (" MsgPack ", "msgpack")])
def test_the_setting_takes_either_format(given: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WIRE, given)
    assert BusSettings().wire_format == expected


@pytest.mark.parametrize("given", ["yaml", "", "msgpack,json", "application/json"])
def test_an_unknown_format_names_the_setting_and_the_choices(given: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WIRE, given)
    with pytest.raises(ValidationError) as info:
        BusSettings()
    line = settings_problem(info.value)
    assert line.startswith(f"PAGI_WIRE_FORMAT={given!r} is not a wire format: set json or msgpack"), line
    assert "\n" not in line


@pytest.mark.parametrize("service", ["planner", "edge"])
def test_a_service_with_an_unknown_format_fails_at_start(service: str, tmp_path: Path) -> None:
    env = {**os.environ, WIRE: "yaml", "PAGI_DATA_DIR": str(tmp_path), "PAGI_METRICS_PORT": "off"}
    # A closed port: it must fail on the setting, before it would try (and wait for) the bus.
    env["NATS_URL"] = "nats://127.0.0.1:9"
    done = subprocess.run(
        [sys.executable, "-m", service], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "PAGI_WIRE_FORMAT='yaml' is not a wire format: set json or msgpack" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr  # one line saying what is wrong, not a stack


def test_pagi_up_refuses_an_unknown_format_before_starting_anything(tmp_path: Path) -> None:
    env = {**os.environ, WIRE: "yaml", "PAGI_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pagi_cli", "up", "--data-dir", str(tmp_path), "--port", "0"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "PAGI_WIRE_FORMAT='yaml' is not a wire format" in output and "Traceback" not in output, output[-2000:]
    assert not (tmp_path / "nats").exists()  # no nats-server was started for it


# --- a mixed deployment, real processes -----------------------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="pagi-wire-"))
    running = Stack(root / "stack", service_env={"planner": {WIRE: "msgpack"}})
    try:
        running.start(names=("planner", "edge"))
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def configure(stack: Stack, **formats: Format | None) -> None:
    """Restart the named services on these formats (None: the setting unset, the default); a service
    already on its format is left running."""
    for name, fmt in formats.items():
        service = stack.services[name]
        if service.env.get(WIRE) == fmt:
            continue
        service.env.pop(WIRE, None)
        if fmt is not None:
            service.env[WIRE] = fmt
        stack.restart(name)


@pytest.fixture
async def operator(stack: Stack) -> AsyncIterator[Client]:
    """A plain nats-py connection, no PAGI code: what the nats CLI is."""
    nc = await nats.connect(stack.nats.url, allow_reconnect=False)
    yield nc
    await nc.close()


async def chat(stack: Stack, session: str, message: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40)) as http:
        async with http.post(f"{stack.edge_url}/v1/chat", json={"message": message, "session_id": session}) as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
            return answer


async def stored(nc: Client, session: str, pattern: str = "*.*.{}") -> list[Msg]:
    """Every message of the session as PAGI_EVENTS stored it, with its headers, read one by one."""
    js = nc.jetstream()
    found: list[Msg] = []
    seq = 1
    while True:
        try:
            msg = await js.get_msg(EVENTS.name, seq, subject=pattern.format(session), next=True)
        except nats.js.errors.NotFoundError:
            return found
        found.append(msg)  # type: ignore[arg-type]
        assert msg.seq is not None
        seq = msg.seq + 1


def content_types(messages: list[Msg]) -> dict[str, set[str]]:
    """Publisher (the Pagi-Service header) -> the content types it stored."""
    by_service: dict[str, set[str]] = {}
    for msg in messages:
        headers = msg.headers or {}
        by_service.setdefault(headers.get(PUBLISHER_HEADER, "?"), set()).add(headers.get("Content-Type", ""))
    return by_service


def read_plainly(msg: Msg) -> dict[str, Any]:
    """A stored message read by its own content type with the plain library, as another client would."""
    kind = (msg.headers or {})["Content-Type"]
    value: dict[str, Any] = json.loads(msg.data) if kind == "application/json" else msgpack.unpackb(msg.data)
    return value


async def answered_and_stored(stack: Stack, operator: Client, message: str) -> tuple[dict[str, Any], list[Msg]]:
    session = f"wire-{uuid.uuid4().hex[:8]}"
    answer = await chat(stack, session, message)
    assert message in answer["response"] and answer["status"] == "completed", answer

    async def complete() -> list[Msg]:
        messages = await stored(operator, session)
        assert {m.subject.rsplit(".", 1)[0] for m in messages} >= {"chat.in", "plan.action", "chat.out"}
        return messages

    messages = await eventually(complete, timeout=10)
    for msg in messages:
        assert read_plainly(msg)["session_id"] == session
        assert decode(msg.subject, msg.data, msg.headers).session_id == session
    return answer, messages


@pytest.mark.parametrize(("planner", "edge"), [("msgpack", "json"), ("json", "msgpack")])
async def test_a_mixed_deployment_answers_and_stores_both_formats(
    stack: Stack, operator: Client, planner: Format, edge: Format
) -> None:
    configure(stack, planner=planner, edge=edge)
    _, messages = await answered_and_stored(stack, operator, f"hello from a {planner} planner")
    assert content_types(messages) == {"planner": {CONTENT_TYPES[planner]}, "edge": {CONTENT_TYPES[edge]}}


async def test_by_default_an_operator_reads_every_event_as_json(stack: Stack, operator: Client) -> None:
    configure(stack, planner=None, edge=None)
    session = f"wire-{uuid.uuid4().hex[:8]}"
    live: asyncio.Queue[Msg] = asyncio.Queue(maxsize=16)

    async def on_msg(msg: Msg) -> None:
        live.put_nowait(msg)

    # `nats sub 'chat.out.<session>'`, then `nats pub chat.in.<session>` with a msgpack envelope: the
    # answer is in the planner's format (JSON), not the asker's.
    await operator.subscribe(f"chat.out.{session}", cb=on_msg)
    question = Envelope[ChatIn](type="chat.in", session_id=session, body=ChatIn(message="hello, msgpack asker"))
    await operator.publish(f"chat.in.{session}", msgpack.packb(question.model_dump(mode="json")))
    msg = await asyncio.wait_for(live.get(), 30)
    assert msg.headers and msg.headers["Content-Type"] == "application/json"
    assert "hello, msgpack asker" in json.loads(msg.data)["body"]["content"]

    _, messages = await answered_and_stored(stack, operator, "hello in json")
    assert content_types(messages) == {"planner": {"application/json"}, "edge": {"application/json"}}


@pytest.mark.parametrize(
    ("payload", "content_type", "reason"),
    [
        (msgpack.packb({"message": "hi"}), "application/json", "not valid JSON"),
        (b'{"message": "hi"}', "application/msgpack", "not valid msgpack"),
    ],
)
async def test_a_payload_whose_content_type_lies_is_a_dead_letter_and_blocks_nothing(
    stack: Stack, operator: Client, payload: bytes, content_type: str, reason: str
) -> None:
    configure(stack, planner="msgpack", edge="json")
    session = f"wire-{uuid.uuid4().hex[:8]}"
    await operator.jetstream().publish(f"chat.in.{session}", payload, headers={"Content-Type": content_type})

    async def dead_lettered() -> dict[str, Any]:
        letters = await stored(operator, session, "dlq.*.*.{}")
        assert len(letters) == 1, letters
        return read_plainly(letters[0])

    letter = await eventually(dead_lettered, timeout=15)
    assert reason in letter["body"]["reason"] and letter["body"]["consumer"]
    # The same session, the same services: the next message is answered.
    answer = await chat(stack, session, "still here")
    assert "still here" in answer["response"]
