"""The embedded store on disk: persistence, a corrupt store, a store in use, a model change."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest

from memory_worker.embedding import Embedder
from memory_worker.errors import StoreCorrupt, StoreLocked
from memory_worker.memory import Memory, NewMemory
from memory_worker.store_edge import EdgeStore


def test_memories_survive_a_restart(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "store"
    first = Memory(EdgeStore(path, embedder.dim), embedder)
    added = first.add([NewMemory("The VPN gateway is 203.0.113.45.", "ops", "body")])[0]
    first.close()
    second = Memory(EdgeStore(path, embedder.dim), embedder)
    try:
        assert second.search("203.0.113.45", "ops", k=1)[0].record.id == added.id
        assert not second.add([NewMemory("The VPN gateway is 203.0.113.45.", "ops", "body")])[0].created
    finally:
        second.close()


def _filled_store(path: Path, embedder: Embedder) -> None:
    mem = Memory(EdgeStore(path, embedder.dim), embedder)
    mem.add([NewMemory("something worth keeping", "ops", "mind")])
    mem.close()


def test_corrupt_segment_is_a_clear_error_and_nothing_is_deleted(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "store"
    _filled_store(path, embedder)
    segment = Path(glob.glob(str(path / "segments" / "*" / "segment.json"))[0])
    segment.write_text("{not json")
    before = sorted(p.name for p in path.rglob("*"))
    with pytest.raises(StoreCorrupt, match=re.escape(str(path))):
        EdgeStore(path, embedder.dim)
    assert sorted(p.name for p in path.rglob("*")) == before


def test_garbled_config_is_a_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "store"
    _filled_store(path, embedder)
    (path / "edge_config.json").write_bytes(b"\x00\x01garbage")
    with pytest.raises(StoreCorrupt, match=r"edge_config\.json"):
        EdgeStore(path, embedder.dim)


def test_a_directory_of_something_else_is_not_overwritten(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "store"
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    with pytest.raises(StoreCorrupt, match="not empty"):
        EdgeStore(path, embedder.dim)
    assert (path / "notes.txt").read_text() == "mine"


def test_store_of_another_dimension_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "store"
    _filled_store(path, embedder)
    with pytest.raises(StoreCorrupt, match=f"{embedder.dim}-d vectors"):
        EdgeStore(path, embedder.dim + 1)


def test_store_in_use_is_reported(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "store"
    first = EdgeStore(path, embedder.dim)
    try:
        with pytest.raises(StoreLocked, match="in use by another process"):
            EdgeStore(path, embedder.dim)
    finally:
        first.close()
