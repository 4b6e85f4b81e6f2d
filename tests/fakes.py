"""Stand-ins for the bus's KV bucket and object store where a test runs no nats-server: they keep
the same contract as records.stores.KV / Blobs (revisions, create-once, compare-and-set)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from records.stores import DIGEST_RE


class MemoryKV:
    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, int]] = {}
        self._revision = 0

    async def get(self, key: str) -> tuple[bytes, int] | None:
        return self._data.get(key)

    async def put(self, key: str, value: bytes) -> int:
        self._revision += 1
        self._data[key] = (value, self._revision)
        return self._revision

    async def create(self, key: str, value: bytes) -> bool:
        if key in self._data:
            return False
        await self.put(key, value)
        return True

    async def update(self, key: str, value: bytes, last_revision: int) -> bool:
        current = self._data.get(key)
        if current is None or current[1] != last_revision:
            return False
        await self.put(key, value)
        return True

    async def keys(self) -> list[str]:
        return list(self._data)


class DirBlobs:
    """Blobs as files in one directory (names are digests, so they are safe file names)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not DIGEST_RE.match(name):
            raise ValueError(f"blob names are sha256 digests, got {name!r}")
        return self.root / name.replace(":", "-")

    async def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, data)

    async def get(self, name: str) -> bytes | None:
        path = self._path(name)
        return await asyncio.to_thread(path.read_bytes) if path.exists() else None
