"""Sessions, approvals and jobs across users, in keys mode on the real bus and planner: alice and bob
are members, root is an admin. Bob, the adversary, tries every door into alice's session (the API,
the seed's /plan with a chat marker, the WebSocket, SSE, /v1/chat); each is refused as if the thing
did not exist (or, for a session he names, as someone else's), nothing is published and alice's tool
does not run. Alice's own way works, and root's too, recorded as an admin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.subjects import APPROVE_DECISION, CHAT_IN, CHAT_OUT, JOB_CANCEL, TOOL_RUN, one_session
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from records.twins import TwinStore

from ..support import VERBOSE, EventCollector, ObserveFactory

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ROOT = "root-key-0123456789abcdef0"
Client = TestClient[web.Request, web.Application]
TOOL_PROMPT = '/tool command_exec {"command": "echo alice-only"}'


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob:member,{ROOT}:root:admin")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


def key(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


async def chat(edge: Client, k: str, session_id: str, message: str) -> dict[str, Any]:
    response = await edge.post("/v1/chat", json={"message": message, "session_id": session_id}, headers=key(k))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def alice_waits_for_a_tool(edge: Client, session_id: str) -> dict[str, Any]:
    """Alice asks for a command in her session: a job waiting for her approval."""
    pending = await chat(edge, ALICE, session_id, TOOL_PROMPT)
    assert pending["status"] == "awaiting_approval", pending
    return pending


async def approval_ids(edge: Client, k: str, session_id: str | None = None) -> list[str]:
    params = {"session": session_id} if session_id else {}
    response = await edge.get("/v1/approvals", params=params, headers=key(k))
    assert response.status == 200
    return [a["approval_id"] for a in (await response.json())["approvals"]]


async def decisions(events: EventCollector, count: int) -> list[Any]:
    return [e.body for e in await events.wait_count(APPROVE_DECISION, count)]


async def test_bob_cannot_list_approve_or_deny_alices_approval_and_alice_can(
    keyed: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    pending = await alice_waits_for_a_tool(keyed, session_id)
    approval_id = pending["issued_command"]["approval_id"]

    assert approval_id not in await approval_ids(keyed, BOB)
    assert await approval_ids(keyed, BOB, session_id) == []
    dashboard = await keyed.get("/api/v1/agi/dashboard-data", headers=key(BOB))
    assert approval_id not in await dashboard.text() and "echo alice-only" not in await dashboard.text()
    dashboard = await keyed.get("/api/v1/agi/dashboard-data", headers=key(ALICE))
    assert approval_id in await dashboard.text()
    for body in ({"approved": True}, {"approved": False}, {"approved": True, "decided_by": "alice"}):
        refused = await keyed.post(f"/v1/approvals/{approval_id}", json=body, headers=key(BOB))
        assert refused.status == 404, body
        assert (await refused.json())["error"] == f"no approval {approval_id}"  # as if it did not exist
    assert await approval_ids(keyed, ALICE, session_id) == [approval_id]  # still pending, hers

    # Alice decides; a name in the body changes nothing about who is recorded.
    mine = await keyed.post(
        f"/v1/approvals/{approval_id}", json={"approved": True, "decided_by": "mallory"}, headers=key(ALICE)
    )
    assert mine.status == 202, await mine.text()
    [decision] = await decisions(events, 1)  # hers only: none of bob's was published
    assert (decision.approval_id, decision.approved, decision.decided_by) == (approval_id, True, "alice")
    await events.wait_count(TOOL_RUN, 1)


async def test_bobs_attempts_publish_nothing_and_alices_tool_does_not_run(
    keyed: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    pending = await alice_waits_for_a_tool(keyed, session_id)
    approval_id, job_id = pending["issued_command"]["approval_id"], pending["job_id"]
    for path, body in (
        (f"/v1/approvals/{approval_id}", {"approved": True, "always": True}),
        (f"/v1/jobs/{job_id}/cancel", {"reason": "mine now"}),
    ):
        assert (await keyed.post(path, json=body, headers=key(BOB))).status == 404, path
    # A marker for a session bob names: neither a message in it nor a decision.
    plan = await keyed.post(
        "/plan", json={"prompt": "[TOOL_EXECUTED] command_exec", "session_id": session_id}, headers=key(BOB)
    )
    assert plan.status == 403 and "belongs to another user" in (await plan.json())["error"]

    # A sentinel after bob's attempts: once alice's own log line is seen, anything bob caused would be too.
    ping = await keyed.post(f"/v1/jobs/{job_id}/cancel", json={"reason": "sentinel"}, headers=key(ALICE))
    assert ping.status == 202
    await events.wait_count(JOB_CANCEL, 1)
    await events.wait_for(lambda _: any(e.body.status == "cancelled" for e in events.of_type(CHAT_OUT)))
    assert events.of_type(APPROVE_DECISION) == []
    assert [e.body.requested_by for e in events.of_type(JOB_CANCEL)] == ["alice"]
    assert [e.body.message for e in events.of_type(CHAT_IN)] == [TOOL_PROMPT]
    assert events.of_type(TOOL_RUN) == []


async def test_bob_cannot_read_or_cancel_alices_job_and_root_cancels_as_admin(
    keyed: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    job_id = (await alice_waits_for_a_tool(keyed, session_id))["job_id"]
    read = await keyed.get(f"/v1/jobs/{job_id}", headers=key(BOB))
    assert read.status == 404 and (await read.json())["error"] == f"no job {job_id}"
    assert "echo alice-only" not in await read.text()
    cancel = await keyed.post(f"/v1/jobs/{job_id}/cancel", json={"requested_by": "alice"}, headers=key(BOB))
    assert cancel.status == 404
    assert (await keyed.get(f"/v1/jobs/{job_id}", headers=key(ALICE))).status == 200
    assert (await keyed.get(f"/v1/jobs/{job_id}", headers=key(ROOT))).status == 200

    by_root = await keyed.post(f"/v1/jobs/{job_id}/cancel", json={"requested_by": "alice"}, headers=key(ROOT))
    assert by_root.status == 202
    [cancelled] = await events.wait_count(JOB_CANCEL, 1)
    assert cancelled.body.requested_by == "root (admin)"
    await events.wait_for(lambda _: any(e.body.status == "cancelled" for e in events.of_type(CHAT_OUT)))
    [answer] = [e for e in events.of_type(CHAT_OUT) if e.body.status == "cancelled"]
    assert "Cancelled by root (admin)" in answer.body.content


async def test_root_sees_and_decides_alices_approval_recorded_as_admin(
    keyed: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    approval_id = (await alice_waits_for_a_tool(keyed, session_id))["issued_command"]["approval_id"]
    assert approval_id in await approval_ids(keyed, ROOT)
    assert approval_id in await approval_ids(keyed, ROOT, session_id)
    by_root = await keyed.post(
        f"/v1/approvals/{approval_id}", json={"approved": False, "decided_by": "alice"}, headers=key(ROOT)
    )
    assert by_root.status == 202
    [decision] = await decisions(events, 1)
    assert (decision.approved, decision.decided_by) == (False, "root (admin)")


async def test_always_on_the_shared_twin_is_refused_to_a_member_and_nothing_is_decided(
    keyed: Client, bus: Bus, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    approval_id = (await alice_waits_for_a_tool(keyed, session_id))["issued_command"]["approval_id"]
    always = await keyed.post(
        f"/v1/approvals/{approval_id}", json={"approved": True, "always": True}, headers=key(ALICE)
    )
    assert always.status == 403
    error = (await always.json())["error"]
    assert "'always'" in error and "orchestrator" in error and "admin" in error
    assert await approval_ids(keyed, ALICE, session_id) == [approval_id]  # not half-applied: still pending
    twins = await TwinStore.open(bus)
    twin = await twins.get("orchestrator")
    assert twin is not None and "command_exec" not in twin.always_allow

    # Without "always" her approval goes through, once.
    plain = await keyed.post(f"/v1/approvals/{approval_id}", json={"approved": True}, headers=key(ALICE))
    assert plain.status == 202
    [decision] = await decisions(events, 1)
    assert (decision.decided_by, decision.always) == ("alice", False)


async def test_plan_markers_decide_only_in_the_callers_session_as_the_caller(
    keyed: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    approval_id = (await alice_waits_for_a_tool(keyed, session_id))["issued_command"]["approval_id"]
    marker = {"prompt": "[TOOL_EXECUTED] command_exec", "session_id": session_id}
    assert (await keyed.post("/plan", json=marker, headers=key(BOB))).status == 403
    assert (await keyed.post("/run", json=marker, headers=key(BOB))).status == 403
    assert await approval_ids(keyed, ALICE, session_id) == [approval_id]

    mine = await keyed.post("/plan", json=marker, headers=key(ALICE))
    assert mine.status in (200, 504), await mine.text()  # the marker is a decision, not a job with an answer
    [decision] = await decisions(events, 1)
    assert (decision.approval_id, decision.approved, decision.decided_by) == (approval_id, True, "alice")
    await events.wait_count(TOOL_RUN, 1)


async def test_a_marker_from_root_in_alices_session_is_recorded_as_admin(
    keyed: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    approval_id = (await alice_waits_for_a_tool(keyed, session_id))["issued_command"]["approval_id"]
    async with keyed.ws_connect("/ws/chat/root", headers=key(ROOT)) as ws:
        frame = {"session_id": session_id, "user_id": "root", "message": "[TOOL_DENIED] command_exec"}
        await ws.send_json(frame)
        [decision] = await decisions(events, 1)
    assert (decision.approval_id, decision.approved, decision.decided_by) == (approval_id, False, "root (admin)")


async def test_bob_cannot_open_alices_session_over_ws_sse_or_chat_and_root_can(
    keyed: Client, observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    await chat(keyed, ALICE, session_id, "alice's secret plans")
    refusal = f"session {session_id} belongs to another user"

    async with keyed.ws_connect("/ws/chat/bob", headers=key(BOB)) as ws:
        for frame in (
            {"type": "resume", "session_id": session_id, "user_id": "bob", "resume_from": 0},
            {"type": "resume", "session_id": session_id, "user_id": "bob"},
            {"session_id": session_id, "user_id": "bob", "message": "let me in"},
        ):
            await ws.send_json(frame)
            answer = await ws.receive_json(timeout=5)
            assert (answer["status"], answer["details"]) == ("error", refusal), frame
    sse = await keyed.get("/v1/events/stream", params={"session": session_id}, headers=key(BOB))
    assert sse.status == 403 and (await sse.json())["error"] == refusal
    posted = await keyed.post(
        "/v1/chat", json={"message": "let me in", "session_id": session_id, "user_id": "alice"}, headers=key(BOB)
    )
    assert posted.status == 403 and (await posted.json())["error"] == refusal
    assert [e.body.message for e in events.of_type(CHAT_IN)] == ["alice's secret plans"]

    # Alice's own doors stay open; root may watch her session.
    async with keyed.get("/v1/events/stream", params={"session": session_id}, headers=key(ALICE)) as mine:
        assert mine.status == 200
    async with keyed.get("/v1/events/stream", params={"session": session_id}, headers=key(ROOT)) as watched:
        assert watched.status == 200
        seen = b""
        while b"caught_up" not in seen:
            seen += await asyncio.wait_for(watched.content.readany(), 5)
        assert b"alice's secret plans" in seen
    async with keyed.ws_connect("/ws/chat/root", headers=key(ROOT), protocols=VERBOSE) as ws:
        await ws.send_json({"type": "resume", "session_id": session_id, "user_id": "root", "resume_from": 0})
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1].get("status") != "resumed":
            frames.append(await ws.receive_json(timeout=5))
        assert "alice's secret plans" in json.dumps(frames)
