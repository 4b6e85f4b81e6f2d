"""Twins, their policy and built tools across users, in keys mode on the real bus: alice and bob are
members, root is an admin. Bob, the adversary, tries to switch approvals off on the shared twin, to
read or change alice's private twin, and to build over alice's tool; each is refused (403 for the
shared twin he may see, 404 for what is alice's own), and nothing changes. Root's way and alice's
own way work. An always-allow is pinned to the artifact approved: a rebuilt tool asks again, through
the real planner, build worker and tool worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from build_worker.service import build_routes
from build_worker.settings import BuildSettings
from bus_schemas import ApprovalDecision, ApprovalRequest, ChatIn, Envelope
from bus_schemas.actions import ActionBuildTool
from bus_schemas.approval import ApprovalRecord
from bus_schemas.build import BuildRequest, BuildResult
from bus_schemas.streams import APPROVALS, SESSIONS, TOOLS
from bus_schemas.subjects import (
    APPROVE_DECISION,
    APPROVE_REQUEST,
    BUILD_REQ,
    BUILD_RESULT,
    CHAT_IN,
    TOOL_RESULT,
    one_session,
)
from bus_schemas.tool import ToolRecord
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from records.sessions import SessionOwners
from records.twins import TwinStore

from ..support import EventCollector, ObserveFactory
from ..workers_support import StartWorker, put_twin, result_for, run_event, sandbox_env, start_worker

__all__ = ["start_worker"]

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ROOT = "root-key-0123456789abcdef0"
Client = TestClient[web.Request, web.Application]
StartBuilder = Callable[[], Any]

V1 = "def main(args):\n    return args['a'] * args['b']\n"
V2 = "def main(args):\n    return 'rebuilt: ' + str(args['a'] * args['b'])\n"


@pytest.fixture
async def keyed(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob:member,{ROOT}:root:admin")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    await (await TwinStore.open(bus)).ensure_default()
    async with TestClient(TestServer(make_app(EdgeSettings(), bus=bus))) as client:
        yield client


@pytest.fixture
async def start_builder(bus: Bus, state_dir: Path) -> AsyncIterator[StartBuilder]:
    running: list[PullConsumer] = []

    async def start() -> None:
        settings = BuildSettings.model_validate({**sandbox_env(state_dir), "BUILD_TIMEOUT_MS": 20_000})
        running.extend(await start_routes(bus, await build_routes(bus, settings)))

    yield start
    for consumer in running:
        await consumer.stop()


def key(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


async def twin_of(edge: Client, k: str, twin_id: str) -> dict[str, Any]:
    response = await edge.get(f"/v1/twins/{twin_id}", headers=key(k))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def settings_of(view: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A PUT body: the view's settings with `changes`."""
    read_only = {"id", "has_api_key", "owner", "status", "created_at", "updated_at"}
    return {**{k: v for k, v in view.items() if k not in read_only}, **changes}


async def test_bob_cannot_change_the_shared_twins_policy_and_root_can(keyed: Client, bus: Bus) -> None:
    before = await twin_of(keyed, BOB, "orchestrator")  # a shared twin: bob may see and use it
    assert before["owner"] is None
    stored = await (await TwinStore.open(bus)).get("orchestrator")
    for change in (
        {"always_allow": ["command_exec", "python"]},
        {"allowed_tools": [*before["allowed_tools"], "mytool"]},
        {"provider": "openai", "base_url": "https://api.openai.com/v1"},
    ):
        refused = await keyed.put("/v1/twins/orchestrator", json=settings_of(before, **change), headers=key(BOB))
        assert refused.status == 403, change
        assert "only an admin may change it" in (await refused.json())["error"]
    assert (await keyed.delete("/v1/twins/orchestrator", headers=key(BOB))).status == 403
    rollback = await keyed.post("/v1/twins/orchestrator/prompt/rollback", json={"version": 1}, headers=key(BOB))
    assert rollback.status == 403
    assert await (await TwinStore.open(bus)).get("orchestrator") == stored  # nothing changed

    allowed = await keyed.put(
        "/v1/twins/orchestrator", json=settings_of(before, always_allow=["list_files"]), headers=key(ROOT)
    )
    assert allowed.status == 200, await allowed.text()
    assert (await twin_of(keyed, BOB, "orchestrator"))["always_allow"] == ["list_files"]


async def test_alices_private_twin_is_hidden_from_bob_and_hers_to_change(keyed: Client, bus: Bus) -> None:
    created = await keyed.post(
        "/v1/twins", json={"id": "alice-twin", "codename": "Alice's", "always_allow": []}, headers=key(ALICE)
    )
    assert created.status == 201, await created.text()
    assert (await created.json())["owner"] == "alice"  # a member's new twin is private to her
    mine = await twin_of(keyed, ALICE, "alice-twin")

    bobs_list = await (await keyed.get("/v1/twins", headers=key(BOB))).json()
    assert "alice-twin" not in [t["id"] for t in bobs_list["twins"]]
    assert "orchestrator" in [t["id"] for t in bobs_list["twins"]]
    body = settings_of(mine, always_allow=["command_exec"])
    for method, path, payload in (
        ("GET", "/v1/twins/alice-twin", None),
        ("PUT", "/v1/twins/alice-twin", body),
        ("DELETE", "/v1/twins/alice-twin", None),
        ("GET", "/v1/twins/alice-twin/prompt/versions", None),
        ("GET", "/v1/twins/alice-twin/prompt/versions/1", None),
        ("POST", "/v1/twins/alice-twin/prompt/rollback", {"version": 1}),
        ("GET", "/v1/tools?twin=alice-twin", None),
    ):
        refused = await keyed.request(method, path, json=payload, headers=key(BOB))
        assert refused.status == 404, (method, path)
        assert "alice" not in (await refused.json())["error"].replace("alice-twin", "")  # nothing of hers told
    assert await twin_of(keyed, ALICE, "alice-twin") == mine  # still there, unchanged

    # Bob's own twin is his; the owner is not a setting, so no body moves a twin to another user.
    assert (await keyed.post("/v1/twins", json={"id": "bob-twin", "codename": "B"}, headers=key(BOB))).status == 201
    hijack = await keyed.put("/v1/twins/alice-twin", json={**body, "owner": "bob"}, headers=key(ALICE))
    assert hijack.status == 400
    changed = await keyed.put("/v1/twins/alice-twin", json=settings_of(mine, mission="hers"), headers=key(ALICE))
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["owner"] == "alice"
    assert (await twin_of(keyed, ROOT, "alice-twin"))["mission"] == "hers"  # an admin sees every twin
    assert [t["id"] for t in (await (await keyed.get("/v1/twins", headers=key(ALICE))).json())["twins"]] == [
        "alice-twin",
        "orchestrator",
    ]


# Built tools: the build worker on the bus, sessions owned as the edge records them.


async def approved_build(
    bus: Bus, session: str, request_id: str, code: str, decided_by: str = "alice", tool: str = "multiply"
) -> Envelope[Any]:
    now = datetime.now(UTC)
    approval_id = uuid.uuid4().hex[:16]
    record = ApprovalRecord(
        approval_id=approval_id,
        session_id=session,
        job_id="job-1",
        twin_id="orchestrator",
        step=1,
        kind="build",
        action=ActionBuildTool(tool_name=tool, language="python", code=code, description=""),
        summary="build",
        reason="test",
        policy="test",
        created_at=now,
        expires_at=now + timedelta(minutes=5),
        state="approved",
        decided_by=decided_by,
        request_id=request_id,
    )
    await (await bus.kv(APPROVALS)).put(f"{session}.{approval_id}", record.model_dump_json().encode())
    body = BuildRequest(request_id=request_id, approval_id=approval_id, tool_name=tool, language="python", code=code)
    return Envelope[BuildRequest](type=BUILD_REQ, session_id=session, job_id="job-1", twin_id="orchestrator", body=body)


async def built(bus: Bus, events: EventCollector, envelope: Envelope[Any]) -> BuildResult:
    await bus.publish(envelope)
    request_id = envelope.body.request_id
    [found] = await events.wait_for_count(
        lambda e: e.type == BUILD_RESULT and e.body.request_id == request_id, 1, timeout=30
    )
    assert isinstance(found.body, BuildResult)
    return found.body


async def owned_session(bus: Bus, user: str) -> str:
    session = f"{user}-{uuid.uuid4().hex[:8]}"
    assert await SessionOwners(await bus.kv(SESSIONS)).claim_or_check(session, user)
    return session


async def test_bob_cannot_build_over_alices_tool_and_root_can(
    bus: Bus, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    await put_twin(bus)
    alice, bob, root = (
        await owned_session(bus, "alice"),
        await owned_session(bus, "bob"),
        await owned_session(bus, "root"),
    )
    events = await observe("build.result.>")
    await start_builder()

    first = await built(bus, events, await approved_build(bus, alice, "b-alice", V1))
    assert first.success and first.version == 1, first
    registry = await bus.kv(TOOLS)
    record = await registry.get_model("multiply", ToolRecord)
    assert record is not None and (record.built_by, record.twin_id) == ("alice", "orchestrator")

    refused = await built(bus, events, await approved_build(bus, bob, "b-bob", V2, decided_by="bob"))
    assert (refused.success, refused.reason) == (False, "not_allowed")
    assert "built by alice" in (refused.error or "")
    assert await registry.get_model("multiply", ToolRecord) == record  # alice's version, untouched

    again = await built(bus, events, await approved_build(bus, alice, "b-alice-2", V2))
    assert again.success and again.version == 2  # her own tool: hers to rebuild
    by_admin = await built(bus, events, await approved_build(bus, root, "b-root", V1, decided_by="root (admin)"))
    assert by_admin.success and by_admin.version == 3, by_admin


# Always-allow pinned to the artifact: the whole loop with the deterministic planner.


async def say(bus: Bus, session: str, message: str) -> None:
    body = ChatIn(message=message, user_id="alice")
    await bus.publish(Envelope[ChatIn](type=CHAT_IN, session_id=session, twin_id="alice-twin", body=body))


async def decide(bus: Bus, events: EventCollector, session: str, count: int, always: bool = False) -> ApprovalRequest:
    requests = await events.wait_count(APPROVE_REQUEST, count, timeout=30)
    request = requests[-1].body
    assert isinstance(request, ApprovalRequest)
    decision = ApprovalDecision(approval_id=request.approval_id, approved=True, decided_by="alice", always=always)
    await bus.publish(Envelope[ApprovalDecision](type=APPROVE_DECISION, session_id=session, body=decision))
    return request


async def test_a_rebuilt_tool_that_was_always_allowed_asks_again(
    bus: Bus,
    planner: list[PullConsumer],
    observe: ObserveFactory,
    start_builder: StartBuilder,
    start_worker: StartWorker,
) -> None:
    await put_twin(bus, "alice-twin", owner="alice", allowed_tools=["multiply"])
    session = await owned_session(bus, "alice")
    events = await observe(one_session(session))
    await start_builder()
    await start_worker()

    await say(bus, session, f"/build multiply python\n{V1}")
    await decide(bus, events, session, 1)
    [v1] = await events.wait_count(BUILD_RESULT, 1, timeout=30)
    assert v1.body.success

    await say(bus, session, '/tool multiply {"a": 6, "b": 7}')
    assert (await decide(bus, events, session, 2, always=True)).kind == "tool"
    [ran] = await events.wait_count(TOOL_RESULT, 1, timeout=30)
    assert ran.body.stdout == "42"
    twin = await (await TwinStore.open(bus)).get("alice-twin")
    assert twin is not None and twin.always_allow_pins == {"multiply": v1.body.artifact_digest}

    await say(bus, session, '/tool multiply {"a": 2, "b": 3}')  # always allowed: runs unasked
    ran_twice = await events.wait_count(TOOL_RESULT, 2, timeout=30)
    assert ran_twice[-1].body.stdout == "6" and len(events.of_type(APPROVE_REQUEST)) == 2

    await say(bus, session, f"/build multiply python\n{V2}")  # the same name, new code
    await decide(bus, events, session, 3)
    v2 = (await events.wait_count(BUILD_RESULT, 2, timeout=30))[-1]
    assert v2.body.success and v2.body.artifact_digest != v1.body.artifact_digest

    await say(bus, session, '/tool multiply {"a": 1, "b": 1}')
    asked = (await events.wait_count(APPROVE_REQUEST, 4, timeout=30))[-1].body
    assert isinstance(asked, ApprovalRequest) and asked.kind == "tool"  # asks again
    assert len(events.of_type(TOOL_RESULT)) == 2  # and did not run

    # The tool worker's own re-check: unasked, the rebuilt artifact is refused.
    await bus.publish(
        run_event(session, "multiply", {"a": 1, "b": 1}, None, "r-unasked").model_copy(update={"twin_id": "alice-twin"})
    )
    refused = await result_for(events, "r-unasked")
    assert refused.reason == "not_approved" and refused.stdout == ""


async def test_alices_private_twin_answers_her(keyed: Client, bus: Bus, observe: ObserveFactory) -> None:
    """Her own chat reaches her private twin. Bob's chat naming it is answered by the default twin,
    exactly as one naming a twin that exists nowhere: tests/seed/test_unknown_twin.py."""
    created = await keyed.post("/v1/twins", json={"id": "alice-chat", "codename": "A"}, headers=key(ALICE))
    assert created.status == 201, await created.text()
    seen = await observe(f"{CHAT_IN}.*")
    hers = f"alice-{uuid.uuid4().hex[:8]}"
    async with keyed.ws_connect("/ws/chat/alice", protocols=(f"pagi.key.{ALICE}",)) as socket:
        frame = {"message": "hello", "session_id": hers, "twin_id": "alice-chat", "user_id": "alice"}
        await socket.send_json({**frame, "timestamp": datetime.now(UTC).isoformat()})
        await seen.wait_for(lambda events: any(e.session_id == hers for e in events))
    [opening] = [e for e in seen.events if e.session_id == hers]
    assert opening.twin_id == "alice-chat" and opening.body.caller_role == "member"
