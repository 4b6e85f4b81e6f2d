"""What the worker tells /health through its heartbeat: where the store is, and whether it answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

from bus_schemas import heartbeat as hb
from pagi.heartbeat import report

from .errors import StoreUnavailable
from .worker import MemoryWorker

log = logging.getLogger("memory_worker.health")
CHECK_INTERVAL_S = 10.0


def without_credentials(location: str) -> str:
    parts = urlsplit(location)
    if parts.scheme and parts.hostname and (parts.username or parts.password):
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return location


async def check_store(worker: MemoryWorker) -> bool:
    try:
        await worker.run(worker.memory.store.count)
    except StoreUnavailable as exc:
        log.warning("memory store not answering: %s", exc)
        return False
    return True


async def watch_store(worker: MemoryWorker, stopping: asyncio.Event, interval_s: float = CHECK_INTERVAL_S) -> None:
    """Checks at once, then every interval until stopping is set."""
    report(hb.MEMORY_STORE, without_credentials(worker.memory.store.location))
    while True:
        report(hb.MEMORY_STORE_OK, await check_store(worker))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)
            return
