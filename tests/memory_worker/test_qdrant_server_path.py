"""The QDRANT_URL path: configuration picks it, and a server that is down is a clear, retryable error."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import numpy as np
import pytest

from memory_worker.config import MemorySettings
from memory_worker.embedding import Embedder
from memory_worker.errors import StoreUnavailable
from memory_worker.memory import Memory, NewMemory, open_store
from memory_worker.records import SearchQuery
from memory_worker.sparse import encode_query
from memory_worker.store_edge import EdgeStore
from memory_worker.store_qdrant import QdrantStore


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_settings_choose_the_store(tmp_path: Path, embedder: Embedder) -> None:
    embedded = open_store(MemorySettings(PAGI_DATA_DIR=tmp_path), embedder)
    try:
        assert isinstance(embedded, EdgeStore)
        assert embedded.location.startswith(str(tmp_path / "memory" / "pagi-memory-builtin-minilm-l6-m2v-256"))
    finally:
        embedded.close()
    url = f"http://127.0.0.1:{closed_port()}"
    server = open_store(MemorySettings(PAGI_DATA_DIR=tmp_path, QDRANT_URL=url), embedder)
    assert isinstance(server, QdrantStore) and url in server.location
    server.close()


def test_server_down_is_a_clear_error_every_time(embedder: Embedder) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    memory = Memory(QdrantStore("pagi-test", embedder.dim, url=url, timeout_s=2), embedder)
    with pytest.raises(
        StoreUnavailable, match=rf"Qdrant at {re.escape(url)} is unreachable during retrieve: .*refused"
    ):
        memory.add([NewMemory("x")])
    query = SearchQuery(np.zeros(embedder.dim, dtype=np.float32), encode_query("x"), "default", ("mind",), 5)
    with pytest.raises(StoreUnavailable, match=re.escape(url)):
        memory.store.search(query)  # no cached state: each call tries the server again
    memory.close()


def test_switching_models_warns_about_the_old_collection(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings = MemorySettings(PAGI_DATA_DIR=tmp_path)
    (settings.store_dir / "pagi-memory-model2vec-old-model-128").mkdir(parents=True)
    store = open_store(settings, embedder)
    store.close()
    assert "pagi-memory-model2vec-old-model-128" in caplog.text and "re-ingest" in caplog.text
