"""vector_query through the tool worker to the real memory worker and back: request/reply on the
memory worker's `api.memory.session` endpoint, answered on the tool worker's own inbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bus_schemas import Envelope
from bus_schemas.memory import MemoryStore
from bus_schemas.streams import SESSIONS
from bus_schemas.subjects import MEMORY_RESULT, MEMORY_STORE, one_session
from memory_worker.__main__ import routes_for
from memory_worker.api import serve_api
from memory_worker.embedding import Embedder, load_embedder
from memory_worker.memory import Memory
from memory_worker.store_edge import EdgeStore
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from records.sessions import SessionOwners

from ..support import ObserveFactory
from ..workers_support import StartWorker, put_twin, result_for, run_event


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder("builtin")


@pytest.fixture
async def memory_worker(bus: Bus, tmp_path: Path, embedder: Embedder) -> AsyncIterator[list[PullConsumer]]:
    executor = ThreadPoolExecutor(max_workers=1)
    memory = await asyncio.get_running_loop().run_in_executor(
        executor, lambda: Memory(EdgeStore(tmp_path / "store", embedder.dim), embedder)
    )
    worker = MemoryWorker(memory, executor)
    consumers = await start_routes(bus, routes_for(worker))
    stopping = asyncio.Event()
    api = asyncio.create_task(serve_api(bus, worker, stopping))
    await bus.nc.flush()
    yield consumers
    stopping.set()
    await asyncio.wait_for(api, 5)
    for consumer in consumers:
        await consumer.stop()
    await worker.close()


async def test_vector_query_asks_the_memory_worker(
    bus: Bus,
    session_id: str,
    observe: ObserveFactory,
    start_worker: StartWorker,
    memory_worker: list[PullConsumer],
) -> None:
    await put_twin(bus, always_allow=["vector_query"])
    events = await observe(one_session(session_id))
    stored = MemoryStore(request_id="r-store", text="The staging host is 10.20.30.40 and runs CVE-2024-3094 checks.")
    await bus.publish(Envelope[MemoryStore](type=MEMORY_STORE, session_id=session_id, body=stored))
    await events.wait_for_count(lambda e: e.type == MEMORY_RESULT and e.body.request_id == "r-store", 1, timeout=20)
    await start_worker()
    await bus.publish(run_event(session_id, "vector_query", {"query": "10.20.30.40"}, None, "r-vq"))
    result = await result_for(events, "r-vq")
    assert result.exit_code == 0, result
    assert result.stdout.startswith("1. [") and "10.20.30.40" in result.stdout


async def test_vector_query_keeps_to_the_session_owners_namespaces(
    bus: Bus,
    session_id: str,
    observe: ObserveFactory,
    start_worker: StartWorker,
    memory_worker: list[PullConsumer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memory worker checks the session's owner for the tool worker's question too: alice's
    session cannot search bob's namespace through vector_query."""
    await SessionOwners(await bus.kv(SESSIONS)).claim(session_id, "alice")
    await put_twin(bus, always_allow=["vector_query"])
    events = await observe(one_session(session_id))
    note = MemoryStore(request_id="r-alice", text="Alice keeps the rack key in drawer 7.", namespace="user-alice")
    await bus.publish(Envelope[MemoryStore](type=MEMORY_STORE, session_id=session_id, body=note))
    await events.wait_for_count(lambda e: e.type == MEMORY_RESULT and e.body.request_id == "r-alice", 1, timeout=20)
    await start_worker()
    monkeypatch.setenv("PAGI_MEMORY_NAMESPACE", "user-bob")
    await bus.publish(run_event(session_id, "vector_query", {"query": "anything"}, None, "r-vq-bob"))
    result = await result_for(events, "r-vq-bob")
    assert result.exit_code == 1, result
    assert "user-bob" in result.stderr and "another user's" in result.stderr
    monkeypatch.setenv("PAGI_MEMORY_NAMESPACE", "user-alice")
    await bus.publish(run_event(session_id, "vector_query", {"query": "rack key"}, None, "r-vq-alice"))
    own = await result_for(events, "r-vq-alice")
    assert own.exit_code == 0 and "drawer 7" in own.stdout, own
