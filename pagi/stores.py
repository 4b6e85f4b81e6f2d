"""Thin wrappers over JetStream KV buckets and object stores, so services never touch nats-py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final, TypeVar

import nats.js.errors
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# Listing keys: at most this long, and the server drops the listing's consumer this soon after it.
KEYS_TIMEOUT_S: Final = 10.0
KEYS_IDLE_S: Final = 5.0


class KVStore:
    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    async def get(self, key: str) -> tuple[bytes, int] | None:
        """The value and its revision, or None when the key is absent or deleted."""
        try:
            entry = await self._bucket.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        return (entry.value or b"", int(entry.revision or 0))

    async def put(self, key: str, value: bytes) -> int:
        return int(await self._bucket.put(key, value))

    async def create(self, key: str, value: bytes) -> bool:
        """Write only if the key does not exist; False when it already did (an atomic claim)."""
        try:
            await self._bucket.create(key, value)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def update(self, key: str, value: bytes, last_revision: int) -> bool:
        """Compare-and-set: False when someone else wrote the key since `last_revision`."""
        try:
            await self._bucket.update(key, value, last=last_revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def delete(self, key: str) -> None:
        await self._bucket.delete(key)

    async def keys(self, pattern: str = ">") -> list[str]:
        """The live keys matching a subject-style pattern (`*` one token, `>` the rest), filtered by
        the server: nats-py's own `keys(filters=...)` lists every key and matches substrings.

        The stream says how many keys (deleted ones too) there are; a watch delivers the last entry of
        each, and the list is complete when all have arrived or one says nothing is pending. nats-py's
        own end-of-data marker is not waited for: it can come before entries already delivered (its
        consumer-info check races their callbacks), which made a busy edge list nothing."""
        bucket = self._bucket
        info = await bucket._js.stream_info(bucket._stream, subjects_filter=f"{bucket._pre}{pattern}")
        expected = len(info.state.subjects or {})
        if expected == 0:
            return []
        watcher = await bucket.watch(pattern, ignore_deletes=False, meta_only=True, inactive_threshold=KEYS_IDLE_S)
        found: list[str] = []
        seen = 0
        try:
            async with asyncio.timeout(KEYS_TIMEOUT_S):
                async for entry in watcher:
                    if entry is None:
                        continue
                    seen += 1
                    if entry.operation is None:  # a value, not a delete or purge marker
                        found.append(entry.key)
                    if seen >= expected or not entry.delta:
                        break
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return found

    async def get_model(self, key: str, model: type[M]) -> M | None:
        found = await self.get(key)
        return None if found is None else model.model_validate_json(found[0])


class BlobStore:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def put(self, name: str, data: bytes) -> None:
        await self._store.put(name, data)

    async def put_file(self, name: str, path: Path) -> None:
        """Store a file's bytes chunk by chunk, never whole in memory (nats-py reads it in a thread)."""
        with path.open("rb") as reader:
            await self._store.put(name, reader)

    async def exists(self, name: str) -> bool:
        try:
            await self._store.get_info(name)
        except nats.js.errors.NotFoundError:
            return False
        return True

    async def get(self, name: str) -> bytes | None:
        try:
            result = await self._store.get(name)
        except nats.js.errors.ObjectNotFoundError:
            return None
        return bytes(result.data or b"")
