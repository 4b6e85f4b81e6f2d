"""Compare-and-set updates of pydantic records in a KV bucket."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from pagi.stores import KVStore

M = TypeVar("M", bound=BaseModel)


class ConcurrentUpdate(RuntimeError):
    """Someone else changed the record first; the caller's message is retried and re-reads it."""


async def read(kv: KVStore, key: str, model: type[M]) -> tuple[M, int] | None:
    found = await kv.get(key)
    if found is None:
        return None
    return model.model_validate_json(found[0]), found[1]


async def update(kv: KVStore, key: str, model: type[M], change: Callable[[M], M | None]) -> M | None:
    """Apply `change` to the current record and write it only if nobody wrote in between.
    `change` returns None to leave the record as it is. Returns the written (or unchanged) record,
    or None when the key does not exist."""
    found = await read(kv, key, model)
    if found is None:
        return None
    current, revision = found
    changed = change(current)
    if changed is None:
        return current
    if not await kv.update(key, changed.model_dump_json().encode(), revision):
        raise ConcurrentUpdate(f"{key} changed while being updated")
    return changed
