"""vector_query through the tool worker to the real memory worker and back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bus_schemas import Envelope
from bus_schemas.memory import MemoryStore
from bus_schemas.subjects import MEMORY_RESULT, MEMORY_STORE, one_session
from memory_worker.__main__ import routes_for
from memory_worker.embedding import Embedder, load_embedder
from memory_worker.memory import Memory
from memory_worker.store_edge import EdgeStore
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes

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
    yield consumers
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
