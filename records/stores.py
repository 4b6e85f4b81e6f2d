"""The storage the workers need, as small protocols: JetStream KV / object store in production
(pagi.stores.KVStore / BlobStore), in-process or on-disk ones where no bus runs."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Protocol

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class KV(Protocol):
    async def get(self, key: str) -> tuple[bytes, int] | None: ...
    async def put(self, key: str, value: bytes) -> int: ...
    async def create(self, key: str, value: bytes) -> bool: ...
    async def update(self, key: str, value: bytes, last_revision: int) -> bool: ...
    async def keys(self) -> list[str]: ...


class Blobs(Protocol):
    async def put(self, name: str, data: bytes) -> None: ...
    async def get(self, name: str) -> bytes | None: ...


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
