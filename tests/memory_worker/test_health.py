"""The heartbeat facts /health reads: store location (no credentials) and whether it answers."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

from bus_schemas import heartbeat as hb
from memory_worker.embedding import Embedder
from memory_worker.health import check_store, watch_store, without_credentials
from memory_worker.memory import Memory
from memory_worker.store_qdrant import QdrantStore
from memory_worker.worker import MemoryWorker
from pagi import heartbeat


def test_credentials_never_leave() -> None:
    assert without_credentials("https://user:secret@qdrant.example:6333/x") == "https://qdrant.example:6333/x"
    assert without_credentials("http://127.0.0.1:6333") == "http://127.0.0.1:6333"
    assert without_credentials("/var/lib/pagi/memory/c") == "/var/lib/pagi/memory/c"


async def test_watch_reports_location_and_liveness(worker: MemoryWorker) -> None:
    for key in (hb.MEMORY_STORE, hb.MEMORY_STORE_OK):
        heartbeat._details.pop(key, None)
    stopping = asyncio.Event()
    stopping.set()  # one check, then return
    try:
        await asyncio.wait_for(watch_store(worker, stopping), 10)
        assert heartbeat._details[hb.MEMORY_STORE] == worker.memory.store.location
        assert heartbeat._details[hb.MEMORY_STORE_OK] is True
    finally:  # the details are process-wide: leave none behind for other tests' heartbeats
        for key in (hb.MEMORY_STORE, hb.MEMORY_STORE_OK):
            heartbeat._details.pop(key, None)


async def test_a_down_server_is_reported(embedder: Embedder) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = QdrantStore("c", embedder.dim, url=f"http://127.0.0.1:{port}", timeout_s=1)
    down = MemoryWorker(Memory(store, embedder), ThreadPoolExecutor(max_workers=1))
    assert await check_store(down) is False
    await down.close()
