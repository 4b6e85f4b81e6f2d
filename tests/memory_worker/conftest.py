"""Shared fixtures: the real builtin model (loaded once) and a fresh store of each kind per test."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nats.errors
import pytest

from bus_schemas.memory import MEMORY_API_SUBJECT
from memory_worker.api import serve_api
from memory_worker.embedding import Embedder, load_embedder
from memory_worker.events_index import DENSE_DIM, EVENTS_FUSION, EventIndex
from memory_worker.memory import Memory
from memory_worker.store import Fusion, MemoryStore
from memory_worker.store_edge import EdgeStore
from memory_worker.store_qdrant import QdrantStore
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder("builtin")


def make_store(kind: str, tmp_path: Path, dim: int, fusion: Fusion | None = None) -> MemoryStore:
    if kind == "edge":
        return EdgeStore(tmp_path / "edge-store", dim, fusion=fusion)
    return QdrantStore("test-memory", dim, location=":memory:", fusion=fusion)


@pytest.fixture(params=["edge", "qdrant-client"])
def memory(request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder) -> Iterator[Memory]:
    mem = Memory(make_store(request.param, tmp_path, embedder.dim), embedder)
    yield mem
    mem.close()


@pytest.fixture
def edge_memory(tmp_path: Path, embedder: Embedder) -> Iterator[Memory]:
    mem = Memory(EdgeStore(tmp_path / "edge-store", embedder.dim), embedder)
    yield mem
    mem.close()


@pytest.fixture
async def worker(tmp_path: Path, embedder: Embedder) -> AsyncIterator[MemoryWorker]:
    """The worker as the service runs it: memory and search index behind one thread."""
    executor = ThreadPoolExecutor(max_workers=1)

    def open_both() -> tuple[Memory, EventIndex]:
        return Memory(EdgeStore(tmp_path / "store", embedder.dim), embedder), EventIndex(
            EdgeStore(tmp_path / "events", DENSE_DIM, fusion=EVENTS_FUSION)
        )

    memory, events = await asyncio.get_running_loop().run_in_executor(executor, open_both)
    running = MemoryWorker(memory, executor, events)
    yield running
    await running.close()


@contextlib.asynccontextmanager
async def serving_api(bus: Bus, worker: MemoryWorker) -> AsyncIterator[MemoryWorker]:
    """The worker's request/reply API on the bus, answering once this returns."""
    stopping = asyncio.Event()
    task = asyncio.create_task(serve_api(bus, worker, stopping))
    for _ in range(200):  # bounded: the first answered request proves the subscription is live
        try:
            await bus.nc.request(MEMORY_API_SUBJECT, b"{}", timeout=5)
            break
        except nats.errors.NoRespondersError:
            await bus.nc.flush()
    try:
        yield worker
    finally:
        stopping.set()
        await task


async def call(bus: Bus, timeout: float = 10, **request: Any) -> dict[str, Any]:
    """One raw JSON request to the API, as `nats req api.memory` would send it."""
    reply = await bus.nc.request(MEMORY_API_SUBJECT, json.dumps(request).encode(), timeout=timeout)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer
