"""Global search: every chat message and job log line, indexed as it happens, searched as you type.

A collection of its own (same storage paths as memories). Ranking is by keywords alone (BM25
with IDF, Qdrant-side), with prefix terms so the word being typed matches as a prefix: a search
box wants lines that contain what was typed, best first, not loose neighbours by meaning.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import numpy as np

from bus_schemas import ChatIn, ChatOut, Envelope, JobLog

from .config import MemorySettings
from .errors import InvalidRequest
from .records import Embedded, MemoryRecord, SearchQuery
from .sparse import encode_document, encode_query
from .store import Fusion, MemoryStore

MIN_QUERY_CHARS: Final = 2
MAX_QUERY_CHARS: Final = 500
MAX_INDEXED_CHARS: Final = 8000
EVENTS_SCOPE: Final = "events"
EVENTS_COLLECTION: Final = "pagi-events"
# Independent of the embedding model, so switching models keeps the search history.
DENSE_DIM: Final = 4
# One scope fills the collection, so a per-namespace IDF corpus would only cost time.
EVENTS_FUSION: Final = Fusion(namespace_idf=False)
_KB: Final = "heart"
_ID_NAMESPACE: Final = uuid.UUID("0d7b6c1e-3c2f-4b8e-8f0a-5e2a9d4c7b11")

Kind = Literal["message", "log"]


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    event_id: str
    kind: Kind
    text: str
    session_id: str
    ts: datetime
    job_id: str | None = None
    twin_id: str | None = None
    sender: str | None = None  # messages: "user" or "assistant"
    level: str | None = None  # log lines

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "session_id": self.session_id,
            "job_id": self.job_id,
            "twin_id": self.twin_id,
            "sender": self.sender,
            "level": self.level,
            "event_id": self.event_id,
            "ts": self.ts.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class EventHit:
    event: IndexedEvent
    score: float


def entry_for(event: Envelope[Any]) -> IndexedEvent | None:
    """What of an event is searchable: chat messages both ways (final answers only) and log lines."""
    body = event.body
    common: dict[str, Any] = {
        "event_id": event.id,
        "session_id": event.session_id,
        "ts": event.ts,
        "job_id": event.job_id,
        "twin_id": event.twin_id,
    }
    if isinstance(body, ChatIn):
        return IndexedEvent(kind="message", text=body.message, sender="user", **common)
    if isinstance(body, ChatOut) and body.is_final and body.content.strip():
        return IndexedEvent(kind="message", text=body.content, sender="assistant", **common)
    if isinstance(body, JobLog):
        return IndexedEvent(kind="log", text=body.message, level=body.level, **common)
    return None


def _record(entry: IndexedEvent) -> MemoryRecord:
    return MemoryRecord(
        id=str(uuid.uuid5(_ID_NAMESPACE, entry.event_id)),
        text=entry.text[:MAX_INDEXED_CHARS],
        namespace=EVENTS_SCOPE,
        kb=_KB,
        content_hash="",
        created_at=entry.ts.timestamp(),
        source=f"session:{entry.session_id}",
        metadata=entry.metadata(),
    )


def _entry(record: MemoryRecord) -> IndexedEvent:
    meta = record.metadata
    return IndexedEvent(
        event_id=str(meta.get("event_id", "")),
        kind="log" if meta.get("kind") == "log" else "message",
        text=record.text,
        session_id=str(meta.get("session_id", "")),
        ts=datetime.fromisoformat(meta["ts"]) if meta.get("ts") else datetime.fromtimestamp(record.created_at, UTC),
        job_id=meta.get("job_id"),
        twin_id=meta.get("twin_id"),
        sender=meta.get("sender"),
        level=meta.get("level"),
    )


class EventIndex:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        # Ranking is by keywords; the store's dense slot holds a constant so no model runs per line.
        self._dense = np.full(DENSE_DIM, 1.0 / np.sqrt(DENSE_DIM), dtype=np.float32)

    def add(self, entries: Sequence[IndexedEvent]) -> int:
        """Index entries (idempotent by event id); returns how many were new."""
        records = {r.id: r for r in map(_record, entries)}
        known = self.store.existing_ids(list(records))
        fresh = [r for r in records.values() if r.id not in known]
        self.store.upsert(
            [Embedded(record=r, dense=self._dense, sparse=encode_document(r.text, prefixes=True)) for r in fresh]
        )
        return len(fresh)

    def search(
        self,
        query: str,
        *,
        kind: Kind | None = None,
        session_id: str | None = None,
        sessions: Sequence[str] | None = None,
        limit: int = 20,
    ) -> list[EventHit]:
        """The best hits; `sessions` (when given) confines them to those sessions, in the store's
        filter, so the limit counts only hits the caller may see."""
        if len(query.strip()) < MIN_QUERY_CHARS:
            raise InvalidRequest(f"search needs at least {MIN_QUERY_CHARS} characters")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"the search query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        if not 1 <= limit <= 100:
            raise InvalidRequest(f"limit must be between 1 and 100, not {limit}")
        match = tuple((k, v) for k, v in (("kind", kind), ("session_id", session_id)) if v)
        if sessions is not None and not sessions:
            return []
        match_any = (("session_id", tuple(sessions)),) if sessions is not None else ()
        hits = self.store.search(
            SearchQuery(
                dense=self._dense,
                sparse=encode_query(query, prefix_last=True),
                namespace=EVENTS_SCOPE,
                kbs=(_KB,),
                limit=limit,
                keyword_only=True,
                match=match,
                match_any=match_any,
            )
        )
        return [EventHit(event=_entry(h.record), score=h.score) for h in hits]

    def close(self) -> None:
        self.store.close()


def open_event_index(settings: MemorySettings) -> EventIndex:
    if settings.qdrant_url:
        from .store_qdrant import QdrantStore

        store: MemoryStore = QdrantStore(
            EVENTS_COLLECTION, DENSE_DIM, url=settings.qdrant_url, api_key=settings.qdrant_api_key, fusion=EVENTS_FUSION
        )
    else:
        from .store_edge import EdgeStore

        store = EdgeStore(settings.store_dir / EVENTS_COLLECTION, DENSE_DIM, fusion=EVENTS_FUSION)
    return EventIndex(store)
