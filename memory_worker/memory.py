"""The memory itself: embed, dedupe, store, search. No bus here; handlers and the CLI call it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from records.access import namespace_owner

from .config import MemorySettings
from .embedding import Embedder, collection_suffix, load_embedder
from .errors import InvalidRequest, UnknownNamespace
from .records import (
    DEFAULT_NAMESPACE,
    KB_NAMES,
    NAMESPACE_RE,
    SEARCHABLE_KBS,
    Embedded,
    Hit,
    MemoryRecord,
    SearchQuery,
    content_hash,
    memory_id,
)
from .sparse import encode_document, encode_query
from .store import Fusion, MemoryStore

log = logging.getLogger("memory_worker")

MAX_QUERY_CHARS: Final = 4000
MAX_TEXT_CHARS: Final = 64_000
MAX_TOP_K: Final = 100
MAX_LIST: Final = 1000


@dataclass(frozen=True, slots=True)
class NewMemory:
    text: str
    namespace: str = DEFAULT_NAMESPACE
    kb: str = "mind"
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Added:
    id: str
    created: bool  # False: the same text was already in that namespace and KB


def check_namespace(namespace: str) -> str:
    if not NAMESPACE_RE.match(namespace):
        raise InvalidRequest(f"invalid namespace {namespace!r}: 1-64 characters of A-Z a-z 0-9 _ . - (not first)")
    return namespace


def check_kb(kb: str) -> str:
    if kb.lower() not in KB_NAMES:
        raise InvalidRequest(f"unknown knowledge base {kb!r}: use one of {', '.join(KB_NAMES)}")
    return kb.lower()


def always_there(namespace: str) -> bool:
    """A namespace every install has from the start: `default`, and each user's `user-<id>` (whose
    owner the callers' checks, records.access, decide before a search gets here)."""
    return namespace == DEFAULT_NAMESPACE or namespace_owner(namespace) is not None


class Memory:
    def __init__(self, store: MemoryStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def add(self, items: Sequence[NewMemory]) -> list[Added]:
        """Store texts; texts already present (same namespace, KB and content) are not embedded again."""
        records: list[MemoryRecord] = []
        now = time.time()
        for item in items:
            text = item.text.strip()
            if not text:
                raise InvalidRequest("cannot store an empty memory")
            if len(text) > MAX_TEXT_CHARS:
                raise InvalidRequest(f"memory text is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
            namespace, kb = check_namespace(item.namespace), check_kb(item.kb)
            digest = content_hash(text)
            records.append(
                MemoryRecord(
                    id=memory_id(namespace, kb, digest),
                    text=text,
                    namespace=namespace,
                    kb=kb,
                    content_hash=digest,
                    created_at=now,
                    source=item.source,
                    metadata=item.metadata,
                )
            )
        existing = self.store.existing_ids([r.id for r in records])
        fresh: dict[str, MemoryRecord] = {r.id: r for r in records if r.id not in existing}
        if fresh:
            todo = list(fresh.values())
            dense = self.embedder.embed([r.text for r in todo])
            self.store.upsert(
                [Embedded(record=r, dense=dense[i], sparse=encode_document(r.text)) for i, r in enumerate(todo)]
            )
        seen: set[str] = set()
        out: list[Added] = []
        for r in records:
            out.append(Added(id=r.id, created=r.id in fresh and r.id not in seen))
            seen.add(r.id)
        return out

    def search(
        self, query: str, namespace: str = DEFAULT_NAMESPACE, kbs: Sequence[str] | None = None, k: int = 5
    ) -> list[Hit]:
        text = query.strip()
        if not text:
            raise InvalidRequest("the search query is empty")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"the search query is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
        if not 1 <= k <= MAX_TOP_K:
            raise InvalidRequest(f"k must be between 1 and {MAX_TOP_K}, not {k}")
        check_namespace(namespace)
        wanted = tuple(check_kb(kb) for kb in kbs) if kbs else SEARCHABLE_KBS
        dense = self.embedder.embed([text])[0]
        hits = self.store.search(
            SearchQuery(dense=dense, sparse=encode_query(text), namespace=namespace, kbs=wanted, limit=k)
        )
        # Checked only when nothing was found, to keep a count off the hot path. The default
        # namespace and a user's own exist before anything is saved in them: empty, not unknown.
        if not hits and not always_there(namespace) and self.store.count(namespace) == 0:
            raise UnknownNamespace(namespace, list(self.store.namespace_stats()))
        return hits

    def get(self, memory_id_: str) -> MemoryRecord | None:
        found = self.store.retrieve([memory_id_])
        return found[0] if found else None

    def delete(self, memory_id_: str) -> bool:
        return self.store.delete([memory_id_]) > 0

    def list(self, namespace: str, kb: str | None = None, limit: int = MAX_LIST) -> list[MemoryRecord]:
        """A namespace's memories in reading order (file, then chunk), e.g. Soul for the system prompt."""
        check_namespace(namespace)
        if kb is not None:
            kb = check_kb(kb)
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIST}, not {limit}")
        records = self.store.list(namespace, kb, limit)
        return sorted(records, key=lambda r: (r.source or "", int(r.metadata.get("chunk", 0)), r.created_at))

    def namespaces(self) -> dict[str, dict[str, int]]:
        return self.store.namespace_stats()

    def close(self) -> None:
        self.store.close()


def open_store(settings: MemorySettings, embedder: Embedder) -> MemoryStore:
    fusion = Fusion(
        k=settings.rrf_k,
        dense_weight=settings.dense_weight,
        keyword_weight=settings.keyword_weight,
        namespace_idf=settings.namespace_idf,
    )
    collection = f"{settings.collection_prefix}-{collection_suffix(embedder)}"
    if settings.qdrant_url:
        from .store_qdrant import QdrantStore

        return QdrantStore(
            collection, embedder.dim, url=settings.qdrant_url, api_key=settings.qdrant_api_key, fusion=fusion
        )
    from .store_edge import EdgeStore

    _warn_about_other_models(settings, collection)
    return EdgeStore(settings.store_dir / collection, embedder.dim, fusion=fusion)


def _warn_about_other_models(settings: MemorySettings, collection: str) -> None:
    if not settings.store_dir.is_dir():
        return
    others = sorted(
        p.name
        for p in settings.store_dir.iterdir()
        if p.is_dir() and p.name.startswith(settings.collection_prefix + "-") and p.name != collection
    )
    if others:
        log.warning(
            "memories made with other embedding models are not searched now: %s (in %s); "
            "re-ingest them, or set PAGI_EMBEDDING_MODEL back",
            ", ".join(others),
            settings.store_dir,
        )


def open_memory(settings: MemorySettings | None = None) -> Memory:
    settings = settings or MemorySettings()
    embedder = load_embedder(settings.embedding_model)
    return Memory(open_store(settings, embedder), embedder)
