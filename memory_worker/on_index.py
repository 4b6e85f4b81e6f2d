"""chat.in / chat.out / job.log -> the global search index. Answers nothing on the bus: indexing a
job.log line must never write another one."""

from __future__ import annotations

import logging
from typing import Any

from bus_schemas import Envelope
from pagi.bus import Delivery

from .errors import StoreUnavailable
from .events_index import entry_for
from .replies import last_attempt
from .worker import MemoryWorker

log = logging.getLogger("memory_worker.index")


async def handle_index(worker: MemoryWorker, event: Envelope[Any], delivery: Delivery) -> None:
    entry = entry_for(event)
    if entry is None or worker.events is None:
        return
    try:
        await worker.run(worker.events.add, [entry])
    except StoreUnavailable as exc:
        if not last_attempt(delivery, worker.max_attempts):
            raise
        # Search misses one line; the event itself stays in the stream, nothing else is lost.
        log.warning("not indexed for search: %s", exc, extra={"session_id": event.session_id})
