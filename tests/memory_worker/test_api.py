"""The request/reply API the edge calls (`api.memory`), on a real nats-server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bus_schemas.memory import MEMORY_API_SUBJECT
from memory_worker.events_index import IndexedEvent
from memory_worker.memory import NewMemory
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus

from .conftest import call, serving_api


@pytest.fixture
async def api(bus: Bus, worker: MemoryWorker) -> AsyncIterator[MemoryWorker]:
    await worker.run(
        worker.memory.add,
        [
            NewMemory("db-prod-03 is at 10.0.3.17", "ops", "body", "hosts.md", {"heading": "Hosts"}),
            NewMemory("Refunds within 30 days for annual plans", "biz", "domain", "policy.md"),
        ],
    )
    assert worker.events is not None
    await worker.run(
        worker.events.add,
        [IndexedEvent("e1", "log", "deploy of billing failed: timeout", "s1", datetime.now(UTC), "j1", level="error")],
    )
    async with serving_api(bus, worker):
        yield worker


async def test_search_get_delete_namespaces(bus: Bus, api: MemoryWorker) -> None:
    found = await call(bus, op="search", query="10.0.3.17", namespace="ops", k=3)
    assert found["ok"] is True
    [hit] = found["results"]
    assert {k: hit[k] for k in ("kb", "namespace", "source")} == {
        "kb": "body",
        "namespace": "ops",
        "source": "hosts.md",
    }

    got = await call(bus, op="get", id=hit["id"])
    assert got["memory"]["text"] == "db-prod-03 is at 10.0.3.17" and got["memory"]["metadata"] == {"heading": "Hosts"}

    assert (await call(bus, op="namespaces"))["namespaces"] == {"ops": {"body": 1}, "biz": {"domain": 1}}
    listed = await call(bus, op="list", namespace="ops", kb="body")
    assert [m["id"] for m in listed["memories"]] == [hit["id"]]
    assert (await call(bus, op="delete", id=hit["id"]))["deleted"] is True
    missing = await call(bus, op="get", id=hit["id"])
    assert (missing["ok"], missing["error_kind"]) == (False, "not_found")
    assert (await call(bus, op="delete", id=hit["id"]))["deleted"] is False


async def test_global_search(bus: Bus, api: MemoryWorker) -> None:
    found = await call(bus, op="search_events", query="bill")
    [event] = found["events"]
    assert (event["kind"], event["level"], event["job_id"], event["session_id"]) == ("log", "error", "j1", "s1")
    short = await call(bus, op="search_events", query="b")
    assert (short["ok"], short["error_kind"]) == (False, "invalid") and "at least 2 characters" in short["error"]


@pytest.mark.parametrize(
    ("request_", "kind", "text"),
    [
        ({"op": "search", "query": "x", "namespace": "nowhere"}, "unknown_namespace", "'nowhere'"),
        ({"op": "search", "query": "  ", "namespace": "ops"}, "invalid", "empty"),
        ({"op": "search", "query": "x", "k": 1000}, "invalid", "k:"),
        ({"op": "get"}, "invalid", "needs a memory id"),
        ({"op": "drop_everything"}, "invalid", "op:"),
        ({}, "invalid", "op:"),
    ],
)
async def test_bad_requests(bus: Bus, api: MemoryWorker, request_: dict[str, Any], kind: str, text: str) -> None:
    answer = await call(bus, **request_)
    assert answer["ok"] is False and answer["error_kind"] == kind and text in answer["error"]


async def test_garbage_is_answered_too(bus: Bus, api: MemoryWorker) -> None:
    reply = await bus.nc.request(MEMORY_API_SUBJECT, b"\xff not json", timeout=5)
    assert json.loads(reply.data)["error_kind"] == "invalid"
