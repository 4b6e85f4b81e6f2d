"""Memory governance over the edge (the Mind view's HTTP API) on the real bus and memory worker, with
two users' API keys and an admin's: alice browses, edits, pins and forgets in her own namespace; bob
can do none of it there; every change is a `memory.changed` event naming who made it; malformed
requests are clear 400s."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.memory import MEMORY_AUDIT_SESSION
from bus_schemas.subjects import MEMORY_CHANGED
from edge.app import make_app
from edge.settings import EdgeSettings
from memory_worker.memory import NewMemory
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from tests.support import ObserveFactory

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
ROOT = "root-key-0123456789abcdef0"
Client = TestClient[web.Request, web.Application]


def as_(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def client(bus: Bus, memory_worker: MemoryWorker, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob,{ROOT}:root:admin")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(), bus=bus)
    async with TestClient(TestServer(app)) as running:
        yield running


async def _seed(worker: MemoryWorker) -> list[str]:
    """Six of alice's memories (oldest first) and one shared; ids in the order made."""

    def add() -> list[str]:
        ids = []
        for n in range(6):
            source = "runbook.pdf" if n % 2 == 0 else "session s-7"
            meta = {"approved_by": "alice" if n < 3 else "root", "page": n + 1}
            [added] = worker.memory.add([NewMemory(f"alice's note {n}: rack {n} holds db-{n}", "user-alice", "mind",
                                                   source, meta)])  # fmt: skip
            ids.append(added.id)
            time.sleep(0.002)
        worker.memory.add([NewMemory("the shared handbook", "default", "domain", "handbook.md")])
        return ids

    return await worker.run(add)


async def _browse(client: Client, key: str, **params: str) -> tuple[int, Any]:
    response = await client.get("/v1/memory", params=params, headers=as_(key))
    return response.status, await response.json()


async def test_a_person_browses_edits_pins_and_forgets_their_memories(
    client: Client, memory_worker: MemoryWorker, observe: ObserveFactory
) -> None:
    changes = await observe(f"{MEMORY_CHANGED}.{MEMORY_AUDIT_SESSION}")
    ids = await _seed(memory_worker)
    newest_first = list(reversed(ids))

    status, page = await _browse(client, ALICE, namespace="user-alice", limit="4")
    assert status == 200 and [m["id"] for m in page["memories"]] == newest_first[:4] and page["next_offset"] == 4
    status, page = await _browse(client, ALICE, namespace="user-alice", limit="4", offset="4")
    assert [m["id"] for m in page["memories"]] == newest_first[4:] and page["next_offset"] is None
    assert page["memories"][0]["metadata"]["page"] == 2 and page["memories"][0]["source"] == "session s-7"
    _, page = await _browse(client, ALICE, namespace="user-alice", source="RUNBOOK", approved_by="alice")
    assert {m["id"] for m in page["memories"]} == {ids[0], ids[2]}
    _, page = await _browse(client, ALICE, namespace="user-alice", kb="domain")
    assert page["memories"] == []
    _, page = await _browse(client, ALICE, namespace="user-alice", since="2000-01-01", until=str(time.time() + 60))
    assert len(page["memories"]) == 6

    edited = await client.patch(f"/v1/memory/{ids[1]}", json={"text": "rack 1 holds db-11 now"}, headers=as_(ALICE))
    assert edited.status == 200, await edited.text()
    memory = (await edited.json())["memory"]
    assert memory["id"] != ids[1] and memory["text"] == "rack 1 holds db-11 now"
    assert memory["metadata"]["version"] == 2 and memory["metadata"]["page"] == 2
    assert memory["metadata"]["history"][0]["text"].startswith("alice's note 1") and memory["source"] == "session s-7"
    assert (await client.get(f"/v1/memory/{ids[1]}", headers=as_(ALICE))).status == 404
    found = await client.get("/v1/memory/search", params={"q": "db-11", "namespace": "user-alice"}, headers=as_(ALICE))
    assert [h["id"] for h in (await found.json())["results"]][:1] == [memory["id"]]

    pinned = await client.patch(f"/v1/memory/{ids[4]}", json={"pinned": True}, headers=as_(ALICE))
    assert pinned.status == 200 and (await pinned.json())["memory"]["metadata"]["pinned"] is True
    _, page = await _browse(client, ALICE, namespace="user-alice", pinned="true")
    assert [m["id"] for m in page["memories"]] == [ids[4]]

    forgotten = await client.delete(f"/v1/memory/{ids[4]}", headers=as_(ALICE))
    assert forgotten.status == 204
    _, page = await _browse(client, ALICE, namespace="user-alice", limit="50")
    assert ids[4] not in [m["id"] for m in page["memories"]] and len(page["memories"]) == 5
    found = await client.get("/v1/memory/search", params={"q": "rack 4 db-4", "namespace": "user-alice"},
                             headers=as_(ALICE))  # fmt: skip
    assert ids[4] not in [h["id"] for h in (await found.json())["results"]]
    assert (await client.delete(f"/v1/memory/{ids[4]}", headers=as_(ALICE))).status == 404

    events = await changes.wait_count(MEMORY_CHANGED, 3)
    assert [(e.body.op, e.body.memory_id, e.body.by) for e in events] == [
        ("edited", ids[1], "alice"),
        ("pinned", ids[4], "alice"),
        ("forgotten", ids[4], "alice"),
    ]
    assert events[0].body.new_id == memory["id"] and events[2].body.namespace == "user-alice"


async def test_another_user_cannot_browse_edit_pin_or_forget_my_memories(
    client: Client, memory_worker: MemoryWorker
) -> None:
    ids = await _seed(memory_worker)

    status, refused = await _browse(client, BOB, namespace="user-alice")
    assert status == 404 and "alice's note" not in str(refused)
    for body in ({"text": "bob was here"}, {"pinned": True}):
        response = await client.patch(f"/v1/memory/{ids[0]}", json=body, headers=as_(BOB))
        assert response.status == 404 and "alice's note" not in await response.text()
    assert (await client.delete(f"/v1/memory/{ids[0]}", headers=as_(BOB))).status == 404
    # Shared memories: bob reads them, only an admin changes them.
    status, shared = await _browse(client, BOB, namespace="default")
    assert status == 200 and [m["text"] for m in shared["memories"]] == ["the shared handbook"]
    handbook = shared["memories"][0]["id"]
    refused_edit = await client.patch(f"/v1/memory/{handbook}", json={"text": "bob's handbook"}, headers=as_(BOB))
    assert refused_edit.status == 403 and "admin" in (await refused_edit.json())["error"]
    assert (await client.delete(f"/v1/memory/{handbook}", headers=as_(BOB))).status == 403

    # Nothing of alice's changed.
    _, page = await _browse(client, ALICE, namespace="user-alice", limit="50")
    assert [m["id"] for m in page["memories"]] == list(reversed(ids))
    assert all("pinned" not in m["metadata"] and "history" not in m["metadata"] for m in page["memories"])
    # An admin may, and the change names them as such.
    by_root = await client.patch(f"/v1/memory/{handbook}", json={"pinned": True}, headers=as_(ROOT))
    assert by_root.status == 200, await by_root.text()


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"limit": "0"}, "limit must be between"),
        ({"limit": "lots"}, "limit must be a whole number"),
        ({"offset": "-3"}, "offset must be between"),
        ({"since": "yesterday"}, "since: 'yesterday' is neither unix seconds nor an ISO 8601 date"),
        ({"pinned": "maybe"}, "pinned must be true or false"),
        ({"namespace": "no such/namespace"}, "invalid namespace"),
        ({"kb": "k" * 40}, "invalid memory request"),
        ({"kb": "nowhere"}, "unknown knowledge base"),
        ({"since": "10", "until": "5"}, "since is after until"),
    ],
)
async def test_malformed_browses_are_clear_400s(client: Client, params: dict[str, str], problem: str) -> None:
    status, body = await _browse(client, ALICE, **{"namespace": "user-alice", **params})
    assert status == 400 and problem in body["error"], body


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "give text, pinned, or both"),
        ({"text": "   "}, "text cannot be blank"),
        ({"text": ""}, "text"),
        ({"pinned": "sometimes"}, "pinned"),
        ({"text": "x", "colour": "red"}, "colour"),
        ({"text": "x" * 9000}, "text"),
        ([1, 2], "MemoryPatch"),
    ],
)
async def test_malformed_edits_are_clear_400s(
    client: Client, memory_worker: MemoryWorker, body: Any, problem: str
) -> None:
    [memory, *_] = await _seed(memory_worker)
    response = await client.patch(f"/v1/memory/{memory}", json=body, headers=as_(ALICE))
    text = await response.text()
    assert response.status == 400 and problem in text, text
    assert (await client.patch("/v1/memory/not-a-uuid", json={"pinned": True}, headers=as_(ALICE))).status == 400
    missing = await client.patch(f"/v1/memory/{uuid.uuid4()}", json={"pinned": True}, headers=as_(ALICE))
    assert missing.status == 404
