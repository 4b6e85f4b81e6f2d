"""Shared fixtures: the real builtin model (loaded once) and a fresh store of each kind per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from memory_worker.embedding import Embedder, load_embedder
from memory_worker.events_index import DENSE_DIM, EVENTS_FUSION, EventIndex
from memory_worker.memory import Memory
from memory_worker.store import Fusion, MemoryStore
from memory_worker.store_edge import EdgeStore
from memory_worker.store_qdrant import QdrantStore
from memory_worker.worker import MemoryWorker


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
