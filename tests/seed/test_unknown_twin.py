"""The seed guide's `POST /v1/chat` names `"twin_id": "twin-1"`, a twin PAGI does not have. A twin id
that names no twin is answered by the default twin, and the job log says so; the same over the
WebSocket and a hand-typed `nats pub chat.in.<session>`. The adversary: another user's private twin
is no more reachable than a twin that does not exist, and is answered in the same words, so nobody
learns it exists.

Against the real bus (nats-server), the real planner (deterministic) and edge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import ChatIn, Envelope, new_id
from bus_schemas.subjects import CHAT_IN, CHAT_OUT, JOB_LOG, one_session
from bus_schemas.twin import TwinWrite
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from records.jobs import JobStore
from records.twins import TwinStore

from ..support import EventCollector, ObserveFactory, receive_until

Client = TestClient[web.Request, web.Application]
ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ANSWER_S = 15.0


def fell_back(twin_id: str) -> str:
    return f"unknown twin {twin_id!r}: answered by the default twin 'orchestrator'"


def notes(events: EventCollector, job_id: str) -> list[str]:
    return [e.body.message for e in events.of_type(JOB_LOG) if e.job_id == job_id and e.body.level == "warn"]


async def answer_of(events: EventCollector, job_id: str) -> Envelope[Any]:
    [answer] = await events.wait_for_count(
        lambda e: e.type == CHAT_OUT and e.job_id == job_id and e.body.is_final, 1, ANSWER_S
    )
    return answer


async def test_the_guides_request_is_answered_by_the_default_twin(
    edge: Client, bus: Bus, observe: ObserveFactory
) -> None:
    events = await observe(one_session("session-123"))
    # The seed guide's example, as written (README, "Rust Orchestrator" API endpoints).
    guide = {
        "message": "Search for security threats",
        "twin_id": "twin-1",
        "session_id": "session-123",
        "namespace": "default",
    }
    response = await edge.post("/v1/chat", json=guide)
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "awaiting_approval", body  # a memory search asks first, as the seed's did
    command = body["issued_command"]
    assert command["command"] == "show_memory_page" and command["query"] == "security threats"
    assert command["memory_id"] == command["approval_id"]
    await events.wait_for(lambda _: fell_back("twin-1") in notes(events, body["job_id"]), ANSWER_S)
    job = await (await JobStore.open(bus)).get("session-123", body["job_id"])
    assert job is not None and job.twin_id == "orchestrator"

    hello = await edge.post("/v1/chat", json={**guide, "message": "hello"})
    assert (await hello.json())["status"] == "completed"
    assert "this is orchestrator" in (await hello.json())["response"]


async def test_the_websocket_and_a_bare_nats_publish_follow_the_same_rule(
    edge: Client, bus: Bus, observe: ObserveFactory
) -> None:
    session = str(uuid.uuid4())
    events = await observe(one_session(session))
    async with edge.ws_connect("/ws/chat/sam") as ws:
        frame = {"session_id": session, "user_id": "sam", "timestamp": datetime.now(UTC).isoformat()}
        await ws.send_json({**frame, "message": "hello", "twin_id": "twin-1"})
        answer = (await receive_until(ws, "complete_message", ANSWER_S))[-1]
    assert "this is orchestrator" in answer["content"]
    [chat_in] = events.of_type(CHAT_IN)
    assert fell_back("twin-1") in notes(events, chat_in.job_id or "")

    # What `nats pub chat.in.<session> '{"message":"hi","twin_id":"twin-1"}'` sends: a bare JSON body.
    await bus.nc.publish(f"chat.in.{session}", b'{"message": "hi", "twin_id": "twin-1"}')
    # An observer cannot decode a bare body (its id comes from its stream position): the answer tells.
    [bare] = await events.wait_for_count(
        lambda e: e.type == CHAT_OUT and e.body.is_final and "You said: hi" in e.body.content, 1, ANSWER_S
    )
    assert "this is orchestrator" in bare.body.content
    await events.wait_for(lambda _: fell_back("twin-1") in notes(events, bare.job_id or ""), ANSWER_S)


async def test_a_private_twin_answers_only_those_who_may_see_it_on_the_bus(
    bus: Bus, planner: list[PullConsumer], observe: ObserveFactory
) -> None:
    """The planner's rule (planner/chat_in.py), as the edge's doors feed it: the sender's user and role."""
    await (await TwinStore.open(bus)).create("alice-secret", TwinWrite(codename="Secret"), owner="alice")
    session = f"s-{uuid.uuid4().hex[:8]}"
    events = await observe(one_session(session))
    senders = {
        "bob": ChatIn(message="hello", user_id="bob", twin_id="alice-secret"),
        # How a decision is recorded is no role: only `caller_role` (set by the edge's door) is.
        "bob-admin-claim": ChatIn(message="hello", user_id="bob", twin_id="alice-secret", recorded_as="bob (admin)"),
        "unknown": ChatIn(message="hello", user_id="bob", twin_id="never-made"),
        "alice": ChatIn(message="hello", user_id="alice", twin_id="alice-secret"),
        "root": ChatIn(message="hello", user_id="root", caller_role="admin", twin_id="alice-secret"),
        "operator": ChatIn(message="hello", twin_id="alice-secret"),  # a bus client naming nobody
    }
    answers = {}
    for who, body in senders.items():
        job_id = new_id()
        event = Envelope[ChatIn](
            id=job_id, type=CHAT_IN, session_id=session, job_id=job_id, twin_id=body.twin_id, body=body
        )
        await bus.publish(event)
        answers[who] = ((await answer_of(events, job_id)).body.content, notes(events, job_id))
    for hidden in ("bob", "bob-admin-claim"):
        content, said = answers[hidden]
        assert "this is orchestrator" in content and said == [fell_back("alice-secret")], hidden
    content, said = answers["unknown"]
    assert "this is orchestrator" in content and said == [fell_back("never-made")]
    for allowed in ("alice", "root", "operator"):
        content, said = answers[allowed]
        assert "this is alice-secret" in content and said == [], allowed


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob:member")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    async with TestClient(TestServer(make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus))) as client:
        yield client


async def test_another_users_private_twin_looks_unknown_over_the_edge(keyed: Client, observe: ObserveFactory) -> None:
    created = await keyed.post(
        "/v1/twins", json={"id": "alice-hidden", "codename": "Hidden"}, headers={"Authorization": f"Bearer {ALICE}"}
    )
    assert created.status == 201, await created.text()
    session = f"bob-{uuid.uuid4().hex[:8]}"
    events = await observe(one_session(session))

    async def bob_asks(twin_id: str) -> tuple[int, dict[str, Any]]:
        chat = {"message": "hello", "session_id": session, "twin_id": twin_id}
        response = await keyed.post("/v1/chat", json=chat, headers={"Authorization": f"Bearer {BOB}"})
        return response.status, await response.json()

    (hidden_status, hidden), (unknown_status, unknown) = await bob_asks("alice-hidden"), await bob_asks("nobody-s")
    # The same answer for a twin that exists (not his) and one that does not: status, words, log line.
    assert (hidden_status, unknown_status) == (200, 200), (hidden, unknown)
    assert hidden["status"] == unknown["status"] == "completed"
    assert hidden["response"] == unknown["response"] and "this is orchestrator" in hidden["response"]
    assert "Hidden" not in str(hidden) and "alice" not in str(hidden)
    await events.wait_for(lambda _: fell_back("alice-hidden") in notes(events, hidden["job_id"]), ANSWER_S)
    assert notes(events, hidden["job_id"]) == [fell_back("alice-hidden")]
    assert notes(events, unknown["job_id"]) == [fell_back("nobody-s")]

    hers = await keyed.post(
        "/v1/chat",
        json={"message": "hello", "session_id": f"alice-{uuid.uuid4().hex[:8]}", "twin_id": "alice-hidden"},
        headers={"Authorization": f"Bearer {ALICE}"},
    )
    assert "this is alice-hidden" in (await hers.json())["response"]


async def _planner(bus: Bus) -> Any:
    from pagi.service import start_routes
    from planner.__main__ import PlannerService

    service = PlannerService()
    return service, await start_routes(bus, await service.routes(bus))


async def _stop(running: Any) -> None:
    service, consumers = running
    for consumer in consumers:
        await consumer.stop()
    await service.close()
