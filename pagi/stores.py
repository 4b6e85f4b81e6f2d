"""Thin wrappers over JetStream KV buckets and object stores, so services never touch nats-py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Final, TypeVar

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("pagi.stores")

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
        expected = await self.count(pattern)
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

    async def count(self, pattern: str) -> int:
        """How many keys match (deleted ones too: their markers are the subjects' last entries), as
        the stream says; what a watch of `pattern` delivers before it is in step."""
        bucket = self._bucket
        info = await bucket._js.stream_info(bucket._stream, subjects_filter=f"{bucket._pre}{pattern}")
        return len(info.state.subjects or {})

    async def get_model(self, key: str, model: type[M]) -> M | None:
        found = await self.get(key)
        return None if found is None else model.model_validate_json(found[0])


# How often a mirror's watch looks up from waiting to see whether it should stop or start over, and
# how long it waits before following again after a failure.
MIRROR_POLL_S: Final = 1.0
MIRROR_RETRY_S: Final = 1.0


class KVMirror:
    """The values of the keys matching a pattern, kept in memory by a watch of the bucket: for a key
    read on every message and seldom written (a session's handoff), a dictionary lookup instead of a
    round trip. While the watch has not caught up (at start, after a failure, after a reconnect, when
    entries may have been missed) `ready` is False and readers must ask the bucket itself."""

    def __init__(self, store: KVStore, pattern: str) -> None:
        self._store = store
        self._pattern = pattern
        self._values: dict[str, bytes] = {}
        self.ready = False
        self._start_over = asyncio.Event()

    def get(self, key: str) -> bytes | None:
        return self._values.get(key)

    def note(self, key: str, value: bytes) -> None:
        """This process's own write, seen at once (the watch brings it too, a moment later)."""
        self._values[key] = value

    async def start_over(self) -> None:
        """After a reconnect: updates may have been missed, so readers ask the bucket until resynced."""
        self.ready = False
        self._start_over.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self._start_over.clear()
            try:
                await self._follow(stopping)
            except Exception as exc:  # whatever the watch raised: readers ask the bucket meanwhile
                log.warning("watch of %s failed, following again: %s", self._pattern, exc)
            self.ready = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), MIRROR_RETRY_S)

    async def _follow(self, stopping: asyncio.Event) -> None:
        expected, seen = await self._store.count(self._pattern), 0
        watcher = await self._store._bucket.watch(self._pattern, ignore_deletes=False)
        self._values.clear()
        self.ready = expected == 0
        try:
            while not stopping.is_set() and not self._start_over.is_set():
                try:
                    entry = await watcher.updates(timeout=MIRROR_POLL_S)  # type: ignore[no-untyped-call]
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # nats-py's end-of-history marker: counted below instead (see keys())
                    continue
                if entry.operation is None:
                    self._values[entry.key] = entry.value or b""
                else:
                    self._values.pop(entry.key, None)
                seen += 1
                if not self.ready and (seen >= expected or not entry.delta):
                    self.ready = True
        finally:
            self.ready = False
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]


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
