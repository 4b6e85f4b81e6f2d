"""The tool worker's memory access under the real permissions: request/reply on the memory worker's
`api.memory.session` endpoint, answered on the tool worker's own inbox, the namespace checked against
the session's owner. The tool user cannot read `memory.result` (test_permissions.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus_schemas import Envelope
from bus_schemas import streams as st
from bus_schemas.memory import MEMORY_SESSION_API_SUBJECT, MemoryResult, MemoryStore, SessionMemoryQuery
from memory_worker.__main__ import routes_for
from memory_worker.api import serve_api
from memory_worker.config import MemorySettings
from memory_worker.worker import MemoryWorker
from pagi import micro
from pagi.bus import Bus
from pagi.nats_users import OPERATOR
from pagi.service import start_routes
from records.sessions import SessionOwners

from ..support import EventCollector
from .conftest import SecureBus

SESSION = "alices-session"


@pytest.fixture
async def memory_as_its_user(secure_server: SecureBus, tmp_path: Path) -> AsyncIterator[None]:
    bus = await Bus.connect(secure_server.url("memory"), "memory_worker", connect_timeout_s=5)
    worker = await MemoryWorker.open(MemorySettings(PAGI_DATA_DIR=tmp_path / "memory"))
    consumers = await start_routes(bus, routes_for(worker))
    stopping = asyncio.Event()
    api = asyncio.create_task(serve_api(bus, worker, stopping))
    await bus.flush()
    yield
    stopping.set()
    await asyncio.wait_for(api, 5)
    for consumer in consumers:
        await consumer.stop()
    await worker.close()
    await bus.close()


async def test_the_tool_worker_searches_its_sessions_owners_memory_only(
    secure_server: SecureBus, memory_as_its_user: None
) -> None:
    operator = await Bus.connect(secure_server.url(OPERATOR), "test-operator", connect_timeout_s=5)
    planner = await Bus.connect(secure_server.url("planner"), "planner", connect_timeout_s=5)
    tool = await Bus.connect(secure_server.url("tool"), "tool_worker", connect_timeout_s=5)
    try:
        await SessionOwners(await operator.kv(st.SESSIONS)).claim(SESSION, "alice")
        results = EventCollector()
        observer = await operator.observe(f"memory.result.{SESSION}", results)
        await operator.flush()
        note = MemoryStore(request_id="r-note", text="Alice parks the blue van on level 3.", namespace="user-alice")
        await planner.publish(Envelope[MemoryStore](type="memory.store", session_id=SESSION, body=note))
        await results.wait_for_count(lambda e: e.body.request_id == "r-note", 1, timeout=20)
        await observer.stop()

        def ask(namespace: str, request_id: str) -> SessionMemoryQuery:
            return SessionMemoryQuery(request_id=request_id, session_id=SESSION, query="blue van", namespace=namespace)

        found = await tool.request(MEMORY_SESSION_API_SUBJECT, ask("user-alice", "q-1"), MemoryResult, 10)
        assert found.error is None and "blue van" in found.hits[0].text
        refused = await tool.request(MEMORY_SESSION_API_SUBJECT, ask("user-bob", "q-2"), MemoryResult, 10)
        assert refused.error_kind == "unknown_namespace" and "another user's" in (refused.error or "")
        assert refused.hits == []

        # A malformed request is answered at once with a micro error, and nothing else is blocked.
        garbage = await tool.nc.request(MEMORY_SESSION_API_SUBJECT, b'{"session_id": "../x"}', timeout=5)
        assert garbage.headers is not None and garbage.headers[micro.ERROR_CODE_HEADER] == "400"
        assert MemoryResult.model_validate_json(garbage.data).error_kind == "invalid"
        deep = await tool.nc.request(MEMORY_SESSION_API_SUBJECT, b'{"query": ' + b"[" * 5000, timeout=5)
        assert deep.headers is not None and deep.headers[micro.ERROR_CODE_HEADER] == "400"
        again = await tool.request(MEMORY_SESSION_API_SUBJECT, ask("user-alice", "q-3"), MemoryResult, 10)
        assert again.hits
    finally:
        for bus in (tool, planner, operator):
            await bus.close()
