"""The storage the workers need, as small protocols: JetStream KV / object store in production
(pagi.stores.KVStore / BlobStore); the tests bring in-process and on-disk ones (tests/fakes.py)."""

from __future__ import annotations

import hashlib
import re
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
