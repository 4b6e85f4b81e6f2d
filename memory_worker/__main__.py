"""`python -m memory_worker`: answers memory.query, memory.store, memory.parse and memory.ingest on the bus.

Storage: the embedded Qdrant Edge store under PAGI_DATA_DIR, or a Qdrant server when
QDRANT_URL is set. Embeddings: PAGI_EMBEDDING_MODEL (default: the bundled static model).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
from collections.abc import Sequence
from typing import Any

from bus_schemas import Envelope, streams
from bus_schemas.documents import DocumentIngest, DocumentParse
from bus_schemas.memory import MemoryQuery, MemoryStore
from bus_schemas.streams import MEMORY_DOCUMENTS, MEMORY_WORKER, ConsumerSpec
from pagi.bus import Bus, Delivery, Handler, Reject
from pagi.service import Background, Route, RouteFactory, run_service

from .api import serve_api
from .errors import MemoryError_
from .health import watch_store
from .on_document import handle_ingest, handle_parse
from .on_index import handle_index
from .on_query import handle_query
from .on_store import handle_store
from .worker import MemoryWorker

log = logging.getLogger("memory_worker")


def make_handler(worker: MemoryWorker) -> Handler:
    async def handle(event: Envelope[Any], delivery: Delivery) -> None:
        if isinstance(event.body, MemoryQuery):
            await handle_query(worker, event, delivery)
        elif isinstance(event.body, MemoryStore):
            await handle_store(worker, event, delivery)
        else:
            raise Reject(f"memory worker does not handle {event.type}")

    return handle


def make_document_handler(worker: MemoryWorker) -> Handler:
    async def handle(event: Envelope[Any], delivery: Delivery) -> None:
        if isinstance(event.body, DocumentParse):
            await handle_parse(worker, event, delivery)
        elif isinstance(event.body, DocumentIngest):
            await handle_ingest(worker, event, delivery)
        else:
            raise Reject(f"the documents consumer does not handle {event.type}")

    return handle


def make_index_handler(worker: MemoryWorker) -> Handler:
    async def handle(event: Envelope[Any], delivery: Delivery) -> None:
        await handle_index(worker, event, delivery)

    return handle


def routes_for(worker: MemoryWorker, index_spec: ConsumerSpec | None = None) -> Sequence[Route]:
    # Embedding a batch and writing it is CPU work on one thread: a few in flight is plenty.
    routes = [Route(MEMORY_WORKER, make_handler(worker), max_in_flight=16)]
    # Documents: minutes of conversion and embedding each, on their own consumer so a search never
    # queues behind one; two at a time (one reading while one stores), each kept in progress while it runs.
    routes.append(Route(MEMORY_DOCUMENTS, make_document_handler(worker), max_in_flight=2))
    # Global search indexes chat.in, chat.out and job.log through a consumer of its own; it runs
    # once the contract defines that consumer (bus_schemas.streams.MEMORY_INDEX).
    index_spec = index_spec or getattr(streams, "MEMORY_INDEX", None)
    if index_spec is not None and worker.events is not None:
        routes.append(Route(index_spec, make_index_handler(worker), max_in_flight=64))
    return routes


def make_service() -> tuple[RouteFactory, Background]:
    """The routes (memory.query/store, search indexing) and, beside them, the request/reply API and
    the store check for /health; those start after the routes, which open the store."""
    opened: list[MemoryWorker] = []

    async def routes(bus: Bus) -> Sequence[Route]:
        try:
            worker = await MemoryWorker.open()
        except MemoryError_ as exc:
            log.error("memory worker cannot start: %s", exc)
            sys.exit(f"memory_worker: {exc}")
        atexit.register(worker.close_sync)
        log.info("memory store: %s; embeddings: %s", worker.memory.store.location, worker.memory.embedder.name)
        opened.append(worker)
        return routes_for(worker)

    async def beside(bus: Bus, stopping: asyncio.Event) -> None:
        await asyncio.gather(serve_api(bus, opened[0], stopping), watch_store(opened[0], stopping))

    return routes, beside


if __name__ == "__main__":
    run_service("memory_worker", *make_service())
