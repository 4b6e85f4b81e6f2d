"""The seed console's approval replies, spoken as its App.tsx speaks them over the chat WebSocket:
`[TOOL_EXECUTED] <tool> - CONFIRMED`, `[TOOL_DENIED] <tool>`, `[MEMORY_SHOWN] <memory_id>`,
`[MEMORY_DENIED] <memory_id>`, `[CONFIG_RESPONSE] <key>: <value>`, `[CONFIG_DENIED] <key>`, each
built from the `issued_command` of a `complete_message`. A marker decides the session's most recent
matching pending approval (planner/markers.py), even with older ones pending; anything else decides
nothing and is answered at once, saying why. The adversary: another user's marker in the session.

Against the real bus (nats-server), the real planner (deterministic), memory worker and edge; the
seed gets the sparse frames (answers, chunks, errors), so the tests wait on `complete_message` or
read the bus."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import ChatIn, Envelope
from bus_schemas.subjects import APPROVE_DECISION, CHAT_IN, JOB_LOG, MEMORY_QUERY, PLAN_ACTION, TOOL_RUN, one_session
from edge.app import make_app
from edge.settings import EdgeSettings
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from records.approvals import ApprovalStore

from ..support import EventCollector, ObserveFactory, eventually, receive_until

Client = TestClient[web.Request, web.Application]
SEED_PAGE = "http://127.0.0.1:3000"
ANSWER_S = 15.0
ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
NOTHING = "Nothing was decided: "


def tool(command: str) -> str:
    return f"/tool command_exec {json.dumps({'command': command})}"


def seed_message(session_id: str, user: str, message: str) -> dict[str, Any]:
    """The seed's ChatRequest, exactly (pagiClient.ts): no twin, no type."""
    return {"session_id": session_id, "user_id": user, "timestamp": datetime.now(UTC).isoformat(), "message": message}


@contextlib.asynccontextmanager
async def seed_socket(
    edge: Client, user: str, protocols: tuple[str, ...] = ()
) -> AsyncIterator[ClientWebSocketResponse]:
    async with edge.ws_connect(f"/ws/chat/{user}", headers={"Origin": SEED_PAGE}, protocols=protocols) as ws:
        yield ws


async def say(ws: ClientWebSocketResponse, session_id: str, user: str, message: str) -> dict[str, Any]:
    """Send as the seed does; the next complete_message (for a marker: its own answer, or for a
    question, the approval modal's issued_command)."""
    await ws.send_json(seed_message(session_id, user, message))
    frame = (await receive_until(ws, "complete_message", ANSWER_S))[-1]
    assert frame["is_final"] is True
    return frame


async def pending_ids(bus: Bus, session_id: str) -> list[str]:
    return [r.approval_id for r in await (await ApprovalStore.open(bus)).pending(session_id)]


async def decisions(events: EventCollector, count: int) -> list[Any]:
    return [e.body for e in await events.wait_count(APPROVE_DECISION, count, ANSWER_S)]


def new_session() -> str:
    return str(uuid.uuid4())  # the seed's session ids are UUIDs


async def test_a_tool_marker_decides_the_newest_matching_approval_then_the_next(
    edge: Client, bus: Bus, observe: ObserveFactory
) -> None:
    session = new_session()
    events = await observe(one_session(session))
    async with seed_socket(edge, "alice") as ws:
        older = (await say(ws, session, "alice", tool("echo one")))["issued_command"]
        newer = (await say(ws, session, "alice", tool("echo two")))["issued_command"]
        assert (older["command"], older["tool_name"]) == ("execute_tool", "command_exec")
        assert await pending_ids(bus, session) == [older["approval_id"], newer["approval_id"]]

        # The modal of the newest question: the seed sends `${tool_name} - ${'CONFIRMED'}`.
        await ws.send_json(seed_message(session, "alice", f"[TOOL_EXECUTED] {newer['tool_name']} - CONFIRMED"))
        [decision] = await decisions(events, 1)
        assert (decision.approval_id, decision.approved, decision.decided_by) == (newer["approval_id"], True, "alice")
        [run] = await events.wait_count(TOOL_RUN, 1)
        assert run.body.approval_id == newer["approval_id"] and run.body.args == {"command": "echo two"}
        assert await pending_ids(bus, session) == [older["approval_id"]]

        # The older one is now the most recent pending one for that tool.
        await ws.send_json(seed_message(session, "alice", f"[TOOL_DENIED] {older['tool_name']}"))
        decided = await decisions(events, 2)
    assert (decided[1].approval_id, decided[1].approved, decided[1].decided_by) == (
        older["approval_id"],
        False,
        "alice",
    )

    async def none_pending() -> bool:
        return await pending_ids(bus, session) == []

    await eventually(none_pending, ANSWER_S, what="no approval pending")
    assert len(events.of_type(TOOL_RUN)) == 1
    said = [e.body.message for e in events.of_type(JOB_LOG) if "seed marker from alice" in e.body.message]
    assert said[0].endswith(f"approves approval {newer['approval_id']}; 1 older matching one still pending")


async def test_memory_shown_with_the_memory_id_runs_that_search(
    edge: Client, bus: Bus, memory_worker: MemoryWorker, observe: ObserveFactory
) -> None:
    session = new_session()
    events = await observe(one_session(session))
    async with seed_socket(edge, "alice") as ws:
        first = (await say(ws, session, "alice", "/memory firewall rules"))["issued_command"]
        second = (await say(ws, session, "alice", "search for SSH keys"))["issued_command"]
        for command in (first, second):
            assert command["command"] == "show_memory_page"
            assert command["memory_id"] == command["approval_id"] and command["memory_id"]
        # The id names the older one although a newer memory approval is pending.
        answer = await say(ws, session, "alice", f"[MEMORY_SHOWN] {first['memory_id']}")
        assert "'firewall rules'" in answer["content"] and not answer["content"].startswith(NOTHING)
        [query] = events.of_type(MEMORY_QUERY)
        assert query.body.query == "firewall rules"
        assert await pending_ids(bus, session) == [second["approval_id"]]

        denied = await say(ws, session, "alice", f"[MEMORY_DENIED] {second['memory_id']}")
    assert "denied" in denied["content"]
    [shown, refused] = await decisions(events, 2)
    assert (shown.approval_id, shown.approved) == (first["approval_id"], True)
    assert (refused.approval_id, refused.approved, refused.decided_by) == (second["approval_id"], False, "alice")
    assert len(events.of_type(MEMORY_QUERY)) == 1


async def test_what_matches_nothing_decides_nothing_and_is_never_planned(
    edge: Client, bus: Bus, observe: ObserveFactory
) -> None:
    session = new_session()
    events = await observe(one_session(session))
    async with seed_socket(edge, "alice") as ws:
        pending = (await say(ws, session, "alice", tool("echo keep")))["issued_command"]
        replies = {
            "[TOOL_EXECUTED] file_read - CONFIRMED": "[TOOL_EXECUTED] file_read matches no pending tool approval",
            "[TOOL_DENIED] file_write": "[TOOL_DENIED] file_write matches no pending tool approval",
            # A tool's id; MEMORY markers decide the approvals that open the memory page.
            f"[MEMORY_SHOWN] {pending['approval_id']}": "matches no pending document/memory/remember approval",
            "[MEMORY_SHOWN] null": "[MEMORY_SHOWN] null matches no pending document/memory/remember approval",
            "[CONFIG_RESPONSE] api_key: hunter2": "answers prompt_for_config, which no PAGI approval asks with",
            "[CONFIG_DENIED] api_key": "[CONFIG_DENIED] api_key answers prompt_for_config",
            "[TOOL_EXECUTED]": "is not a marker the seed sends (expected [TOOL_EXECUTED] <tool> - CONFIRMED)",
            "[TOOL_EXECUTED] command_exec - MAYBE": "is not a marker the seed sends",
        }
        for marker, why in replies.items():
            answer = await say(ws, session, "alice", marker)
            assert answer["content"].startswith(NOTHING) and why in answer["content"], (marker, answer["content"])
        # Ordinary chat text is a question for the planner, never a decision.
        plain = await say(ws, session, "alice", "CONFIRMED, approve it")
        assert "You said: CONFIRMED, approve it" in plain["content"]
    # A marker from nobody named (a bus client's `chat.in` without a user) decides nothing either.
    body = ChatIn(message="[TOOL_EXECUTED] command_exec - CONFIRMED")
    await bus.publish(Envelope[ChatIn](type=CHAT_IN, session_id=session, body=body))
    await events.wait_for(lambda _: any("names no sender" in e.body.message for e in events.of_type(JOB_LOG)))

    assert events.of_type(APPROVE_DECISION) == []
    assert await pending_ids(bus, session) == [pending["approval_id"]]
    nothing = [e for e in events.of_type(JOB_LOG) if e.body.message.startswith("seed marker decides nothing")]
    assert len(nothing) == len(replies) + 1 and all(e.body.level == "warn" for e in nothing)
    assert len(events.of_type(PLAN_ACTION)) == 2  # the tool question and the plain text only
    # The value typed into the config modal is not repeated anywhere.
    assert not [e for e in events.events if e.type != CHAT_IN and "hunter2" in e.model_dump_json()]


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob:member")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    monkeypatch.setenv("PAGI_ALLOWED_ORIGINS", SEED_PAGE)  # with keys, the operator lists the console's page
    async with TestClient(TestServer(make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus))) as client:
        yield client


async def test_bobs_marker_never_decides_alices_approval(keyed: Client, bus: Bus, observe: ObserveFactory) -> None:
    hers, his = new_session(), new_session()
    events, his_events = await observe(one_session(hers)), await observe(one_session(his))
    async with seed_socket(keyed, "alice", (f"pagi.key.{ALICE}",)) as alice:
        pending = (await say(alice, hers, "alice", tool("echo alice-only")))["issued_command"]
        marker = f"[TOOL_EXECUTED] {pending['tool_name']} - CONFIRMED"
        async with seed_socket(keyed, "bob", (f"pagi.key.{BOB}",)) as bob:
            await bob.send_json(seed_message(hers, "bob", marker))
            refused = await bob.receive_json(timeout=ANSWER_S)
            assert (refused["type"], refused["status"]) == ("status_update", "error")
            assert refused["details"] == f"session {hers} belongs to another user"
            # In his own session the same marker finds nothing of his to decide.
            own = await say(bob, his, "bob", marker)
            assert own["content"].startswith(NOTHING) and "matches no pending tool approval" in own["content"]
        over_http = await keyed.post(
            "/v1/chat", json={"message": marker, "session_id": hers}, headers={"Authorization": f"Bearer {BOB}"}
        )
        assert over_http.status == 403
        assert await pending_ids(bus, hers) == [pending["approval_id"]]
        assert events.of_type(APPROVE_DECISION) == [] and his_events.of_type(APPROVE_DECISION) == []
        assert [e.body.message for e in events.of_type(CHAT_IN)] == [tool("echo alice-only")]

        # Still hers to decide, as herself.
        await alice.send_json(seed_message(hers, "alice", marker))
        [decision] = await decisions(events, 1)
    assert (decision.approval_id, decision.approved, decision.decided_by) == (pending["approval_id"], True, "alice")
    await events.wait_count(TOOL_RUN, 1)
