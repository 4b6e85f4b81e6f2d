"""Reads across users on the real stack (bus, planner, memory worker, a keyed edge): bob, a member,
tries alice's history, audit, global search hits and memories (over HTTP, and through whatever
searches memory in his sessions: a twin, a tool); alice reads her own; root, an admin, reads hers
too, and the read is recorded in her session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import Envelope
from bus_schemas.memory import MemoryQuery, MemoryResult, MemoryStore
from bus_schemas.subjects import MEMORY_QUERY, MEMORY_RESULT, MEMORY_STORE
from edge.api import audit_http
from edge.app import make_app
from edge.settings import EdgeSettings
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from tests.support import ObserveFactory, eventually

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ROOT = "root-key-0123456789abcdef0"
Client = TestClient[web.Request, web.Application]


def as_(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class World:
    client: Client
    alice_session: str
    bob_session: str
    word: str


async def _chat(client: Client, key: str, session: str, message: str) -> None:
    body = {"message": message, "twin_id": "orchestrator", "session_id": session}
    response = await client.post("/v1/chat", json=body, headers=as_(key))
    assert response.status == 200, await response.text()


async def _search(client: Client, key: str, **params: str) -> tuple[int, Any]:
    response = await client.get("/v1/search", params=params, headers=as_(key))
    return response.status, await response.json()


@pytest.fixture
async def world(
    bus: Bus, planner: list[PullConsumer], memory_worker: MemoryWorker, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob,{ROOT}:root:admin")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        tag = uuid.uuid4().hex[:8]
        world = World(client, f"alice-{tag}", f"bob-{tag}", f"plugh{tag}")
        # Alice's messages outrank bob's (the word twice, few other words): a search cut at k before
        # filtering by session would give bob none of his.
        for n in range(3):
            await _chat(client, ALICE, world.alice_session, f"alice secret {n} {world.word} {world.word}")
        await _chat(
            client, BOB, world.bob_session, f"bob note {' '.join(f'filler{n}' for n in range(40))} {world.word}"
        )

        async def all_indexed() -> bool:
            status, body = await _search(client, ROOT, q=world.word, k="50")
            return status == 200 and {h["session_id"] for h in body["results"]} == {
                world.alice_session,
                world.bob_session,
            }

        await eventually(all_indexed, timeout=15, what="both users' messages in the global search")
        yield world


async def _admin_reads_recorded(world: World, what: str) -> list[str]:
    """The job log lines of alice's session, as alice reads them in her audit."""

    async def lines() -> list[str]:
        response = await world.client.get(
            "/v1/audit", params={"session": world.alice_session, "type": "job.log"}, headers=as_(ALICE)
        )
        assert response.status == 200
        found = [e["event"]["body"]["message"] for e in (await response.json())["events"]]
        return [line for line in found if line.startswith("admin root") and what in line]

    return await eventually(lines, what=f"the record of root's read of {what}")


async def test_history_is_the_owners_and_an_admins_read_is_recorded(world: World) -> None:
    path = f"/v1/sessions/{world.alice_session}/history"
    refused = await world.client.get(path, headers=as_(BOB))
    assert refused.status == 404
    assert "alice secret" not in await refused.text()

    mine = await world.client.get(path, headers=as_(ALICE))
    assert mine.status == 200
    assert any("alice secret 0" in m["text"] for m in (await mine.json())["messages"])

    admin = await world.client.get(path, headers=as_(ROOT))
    assert admin.status == 200
    assert any("alice secret 0" in m["text"] for m in (await admin.json())["messages"])
    [line] = await _admin_reads_recorded(world, "history")
    assert "owner alice" in line
    # Bob's refused read and alice's own left no such record.
    assert (await world.client.get(f"/v1/sessions/{world.bob_session}/history", headers=as_(BOB))).status == 200


@pytest.mark.parametrize("named_filters", [True, False], ids=["filter-per-session", "scan-and-confine"])
async def test_audit_answers_only_the_callers_sessions(
    world: World, named_filters: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not named_filters:
        monkeypatch.setattr(audit_http, "MAX_SESSION_FILTERS", 0)

    async def sessions_in(key: str, **params: str) -> set[str]:
        response = await world.client.get("/v1/audit", params=params, headers=as_(key))
        assert response.status == 200, await response.text()
        return {e["subject"].rsplit(".", 1)[-1] for e in (await response.json())["events"]}

    other = await world.client.get("/v1/audit", params={"session": world.alice_session}, headers=as_(BOB))
    assert other.status == 404
    assert "alice secret" not in await other.text()
    assert await sessions_in(BOB) == {world.bob_session}
    assert await sessions_in(BOB, session="*") == {world.bob_session}
    # A page of one is bob's event, not an empty page cut short by alice's.
    assert await sessions_in(BOB, limit="1") == {world.bob_session}
    assert world.alice_session in await sessions_in(ALICE)
    assert world.bob_session not in await sessions_in(ALICE)
    assert {world.alice_session, world.bob_session} <= await sessions_in(ROOT)

    assert await sessions_in(ROOT, session=world.alice_session) == {world.alice_session}
    await _admin_reads_recorded(world, "audit")


async def test_global_search_answers_only_the_callers_sessions(world: World) -> None:
    status, body = await _search(world.client, BOB, q=world.word)
    assert status == 200
    assert {h["session_id"] for h in body["results"]} == {world.bob_session}
    # Filtered before the cut: alice's three hits rank with bob's, yet his top one is his.
    status, body = await _search(world.client, BOB, q=world.word, k="1")
    assert [h["session_id"] for h in body["results"]] == [world.bob_session]
    status, body = await _search(world.client, BOB, q=world.word, session=world.alice_session)
    assert status == 404 and "alice secret" not in str(body)

    status, body = await _search(world.client, ALICE, q=world.word, k="50")
    assert {h["session_id"] for h in body["results"]} == {world.alice_session}
    status, body = await _search(world.client, ROOT, q=world.word, session=world.alice_session)
    assert status == 200 and {h["session_id"] for h in body["results"]} == {world.alice_session}
    await _admin_reads_recorded(world, "global search hits")


async def _save(world: World, key: str, session: str, namespace: str, text: str) -> tuple[int, Any]:
    body = {"session_id": session, "text": text, "namespace": namespace, "kb": "domain"}
    response = await world.client.post("/v1/memory", json=body, headers=as_(key))
    return response.status, await response.json()


async def test_memories_of_a_users_namespace_are_theirs(world: World) -> None:
    client = world.client
    status, saved = await _save(world, ALICE, world.alice_session, "user-alice", f"alice's door code {world.word}")
    assert status == 201, saved
    memory = saved["id"]

    # Bob: not into her namespace, not from her session, and nothing of hers to read or delete.
    status, refused = await _save(world, BOB, world.bob_session, "user-alice", "planted by bob")
    assert status == 404, refused
    status, refused = await _save(world, BOB, world.alice_session, "user-bob", "planted by bob")
    assert status == 404, refused
    search = await client.get(
        "/v1/memory/search", params={"q": "door code", "namespace": "user-alice"}, headers=as_(BOB)
    )
    assert search.status == 404 and "door code" not in await search.text()
    got = await client.get(f"/v1/memory/{memory}", headers=as_(BOB))
    assert got.status == 404 and "door code" not in await got.text()
    deleted = await client.delete(f"/v1/memory/{memory}", headers=as_(BOB))
    assert deleted.status == 404
    listed = await (await client.get("/v1/memory/namespaces", headers=as_(BOB))).json()
    assert "user-alice" not in listed["namespaces"]

    # Alice: still there, hers to read and list; root reads it too.
    mine = await client.get(f"/v1/memory/{memory}", headers=as_(ALICE))
    assert mine.status == 200 and "door code" in (await mine.json())["text"]
    found = await client.get(
        "/v1/memory/search", params={"q": "door code", "namespace": "user-alice"}, headers=as_(ALICE)
    )
    assert [h["id"] for h in (await found.json())["results"]] == [memory]
    assert "user-alice" in (await (await client.get("/v1/memory/namespaces", headers=as_(ALICE))).json())["namespaces"]
    assert (await client.get(f"/v1/memory/{memory}", headers=as_(ROOT))).status == 200

    # Bob's own namespace is his to write and delete in.
    status, his = await _save(world, BOB, world.bob_session, "user-bob", f"bob's own note {world.word}")
    assert status == 201, his
    assert (await client.delete(f"/v1/memory/{his['id']}", headers=as_(BOB))).status == 204
    assert (await client.delete(f"/v1/memory/{memory}", headers=as_(ALICE))).status == 204
    assert (await client.get(f"/v1/memory/{memory}", headers=as_(ALICE))).status == 404


async def test_shared_memories_are_read_by_all_and_changed_by_admins(world: World) -> None:
    client = world.client
    status, refused = await _save(world, BOB, world.bob_session, "default", "bob rewrites the handbook")
    assert status == 403 and "admin" in refused["error"]
    status, saved = await _save(world, ROOT, world.bob_session, "default", f"the handbook says {world.word}")
    assert status == 201, saved

    found = await client.get("/v1/memory/search", params={"q": "handbook", "namespace": "default"}, headers=as_(BOB))
    assert saved["id"] in [h["id"] for h in (await found.json())["results"]]
    assert (await client.get(f"/v1/memory/{saved['id']}", headers=as_(BOB))).status == 200
    deleted = await client.delete(f"/v1/memory/{saved['id']}", headers=as_(BOB))
    assert deleted.status == 403
    assert (await client.get(f"/v1/memory/{saved['id']}", headers=as_(BOB))).status == 200
    assert (await client.delete(f"/v1/memory/{saved['id']}", headers=as_(ROOT))).status == 204


async def _over_the_bus(bus: Bus, observe: ObserveFactory, event: Envelope[Any]) -> MemoryResult:
    """A memory request published in a session, as a twin's memory action or a tool's query is."""
    results = await observe(f"{MEMORY_RESULT}.{event.session_id}")
    await bus.publish(event)
    request_id = event.body.request_id
    [found] = await results.wait_for_count(lambda e: e.body.request_id == request_id, 1)
    assert isinstance(found.body, MemoryResult)
    return found.body


async def test_no_twin_or_tool_in_bobs_session_reaches_alices_namespace(
    world: World, bus: Bus, observe: ObserveFactory
) -> None:
    status, saved = await _save(world, ALICE, world.alice_session, "user-alice", f"alice's vault pin {world.word}")
    assert status == 201, saved

    def query(session: str, request_id: str) -> Envelope[Any]:
        body = MemoryQuery(request_id=request_id, query="vault pin", namespace="user-alice")
        return Envelope[MemoryQuery](type=MEMORY_QUERY, session_id=session, body=body)

    refused = await _over_the_bus(bus, observe, query(world.bob_session, "bob-q"))
    assert refused.hits == [] and refused.error_kind == "unknown_namespace"
    assert "vault pin" not in (refused.error or "")
    store = MemoryStore(request_id="bob-s", text="planted by bob", namespace="user-alice")
    planted = await _over_the_bus(
        bus, observe, Envelope[MemoryStore](type=MEMORY_STORE, session_id=world.bob_session, body=store)
    )
    assert planted.error and planted.stored_id is None

    hers = await _over_the_bus(bus, observe, query(world.alice_session, "alice-q"))
    assert [h.id for h in hers.hits] == [saved["id"]]

    # An empty namespace's answer names the known ones: never hers to bob, over the bus or HTTP.
    nowhere = MemoryQuery(request_id="bob-n", query="vault pin", namespace="nowhere")
    unknown = await _over_the_bus(
        bus, observe, Envelope[MemoryQuery](type=MEMORY_QUERY, session_id=world.bob_session, body=nowhere)
    )
    assert unknown.error_kind == "unknown_namespace" and "user-alice" not in (unknown.error or "")
    response = await world.client.get(
        "/v1/memory/search", params={"q": "vault pin", "namespace": "nowhere"}, headers=as_(BOB)
    )
    assert response.status == 404 and "user-alice" not in await response.text()
