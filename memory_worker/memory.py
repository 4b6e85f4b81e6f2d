"""The memory itself: embed, dedupe, store, search. No bus here; handlers and the CLI call it."""

from __future__ import annotations

import builtins
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np

from records.access import namespace_owner

from .config import MemorySettings
from .embedding import Embedder, collection_suffix, load_embedder
from .errors import InvalidRequest, UnknownNamespace
from .records import (
    DEFAULT_NAMESPACE,
    KB_NAMES,
    NAMESPACE_RE,
    SEARCHABLE_KBS,
    BrowseFilter,
    Embedded,
    Hit,
    MemoryRecord,
    SearchQuery,
    Vector,
    content_hash,
    memory_id,
)
from .sparse import encode_document, encode_query, held, identifiers
from .store import Candidate, Fusion, MemoryStore

log = logging.getLogger("memory_worker")

MAX_QUERY_CHARS: Final = 4000
MAX_TEXT_CHARS: Final = 64_000
MAX_TOP_K: Final = 100
MAX_LIST: Final = 1000
MAX_PAGE: Final = 1000
# The pinned memories a twin's context is built from: far above what its budget holds.
MAX_PINNED: Final = 200
MAX_ACTOR_CHARS: Final = 160


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


@dataclass(frozen=True, slots=True)
class Page:
    memories: list[MemoryRecord]
    next_offset: int | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class Edited:
    old: MemoryRecord
    new: MemoryRecord


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


@dataclass(frozen=True, slots=True)
class Ranking:
    """What the memory does with the store's fused hits before it keeps the top k (README, Decisions)."""

    # Hits holding more of the identifiers the query names come first (a stable partition).
    identifier_first: bool = True
    # A hit this close (dense cosine) to a higher-ranked one is the same answer and is dropped; None: off.
    collapse_cosine: float | None = 0.9
    # When either is on: how many fused hits they look at, and how deep each prefetch (dense, keywords) is.
    candidates: int = 200
    prefetch: int = 200

    @property
    def active(self) -> bool:
        return self.identifier_first or self.collapse_cosine is not None


def _same_answer(a: Candidate, b: Candidate, cosine: float, threshold: float) -> bool:
    # Two chunks of one document are its different parts (a spreadsheet's rows under one header look
    # alike), never one answer; two documents saying nearly the same thing are.
    source = a.payload.get("source")
    return cosine >= threshold and not (source and source == b.payload.get("source"))


def rerank(candidates: Sequence[Candidate], query: str, ranking: Ranking, k: int) -> list[Hit]:
    """The top k of the fused candidates: identifier holders first, near-duplicates collapsed. A hit's
    score is never above the one before it (callers merge and sort by score; the order must survive)."""
    ordered = list(candidates)
    wanted = identifiers(query) if ranking.identifier_first else frozenset()
    if wanted:
        count = {id(c): held(c.text, wanted) for c in ordered}
        ordered.sort(key=lambda c: -count[id(c)])
    kept: list[Candidate] = []
    units: list[Vector] = []
    for c in ordered:
        if len(kept) == k:
            break
        if ranking.collapse_cosine is not None:
            norm = float(np.linalg.norm(c.dense))
            unit = c.dense / norm if norm else c.dense
            if any(
                _same_answer(c, other, float(u @ unit), ranking.collapse_cosine)
                for other, u in zip(kept, units, strict=True)
            ):
                continue
            units.append(unit)
        kept.append(c)
    hits: list[Hit] = []
    ceiling = math.inf
    for c in kept:
        ceiling = min(ceiling, c.score)
        hits.append(c.hit(ceiling))
    return hits


class Memory:
    def __init__(self, store: MemoryStore, embedder: Embedder, ranking: Ranking | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.ranking = ranking or Ranking()

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
        request = SearchQuery(dense=dense, sparse=encode_query(text), namespace=namespace, kbs=wanted, limit=k)
        if self.ranking.active:
            limit = max(self.ranking.candidates, k)
            found = self.store.candidates(request, limit, max(self.ranking.prefetch, limit))
            hits = rerank(found, text, self.ranking, k)
        else:
            hits = self.store.search(request)
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

    def browse(self, flt: BrowseFilter, offset: int = 0, limit: int = 50) -> Page:
        """A page of a namespace's memories, newest first (ties by id: the order is stable between
        pages), with the filters of the Mind view."""
        check_namespace(flt.namespace)
        if flt.kb is not None:
            flt = replace(flt, kb=check_kb(flt.kb))
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        if offset < 0:
            raise InvalidRequest(f"offset must be 0 or more, not {offset}")
        if flt.since is not None and flt.until is not None and flt.since > flt.until:
            raise InvalidRequest("since is after until: no memory can be created in between")
        briefs = self.store.scan(flt)
        if flt.source_contains:
            needle = flt.source_contains.casefold()
            briefs = [b for b in briefs if b.source is not None and needle in b.source.casefold()]
        briefs.sort(key=lambda b: (-b.created_at, b.id))
        page = [b.id for b in briefs[offset : offset + limit]]
        found = {r.id: r for r in self.store.retrieve(page)}
        more = offset + limit < len(briefs)
        return Page([found[i] for i in page if i in found], offset + limit if more else None)

    def pinned(self, namespace: str, limit: int = MAX_PINNED) -> builtins.list[MemoryRecord]:
        """A namespace's pinned memories, most recent first."""
        return self.browse(BrowseFilter(namespace=namespace, pinned_only=True), 0, min(limit, MAX_PAGE)).memories

    def update(self, memory_id_: str, text: str, actor: str) -> Edited | None:
        """A memory with new text: embedded again under the new text's id (ids are content hashes), the
        old point removed. Its provenance stays; `history` gains the earlier text, `version` counts up.
        None: no such memory."""
        old = self.get(memory_id_)
        if old is None:
            return None
        new_text = text.strip()
        if not new_text:
            raise InvalidRequest("a memory's text cannot be empty; forget it instead")
        if len(new_text) > MAX_TEXT_CHARS:
            raise InvalidRequest(f"memory text is {len(new_text)} characters; the limit is {MAX_TEXT_CHARS}")
        digest = content_hash(new_text)
        if digest == old.content_hash:
            return Edited(old, old)
        history = [h for h in old.metadata.get("history") or [] if isinstance(h, dict)]
        history.append({"text": old.text, "edited_at": time.time(), "edited_by": actor[:MAX_ACTOR_CHARS]})
        version = old.metadata.get("version")
        metadata = {
            **old.metadata,
            "history": history,
            "version": (version if isinstance(version, int) and not isinstance(version, bool) else 1) + 1,
        }
        new = replace(
            old, id=memory_id(old.namespace, old.kb, digest), text=new_text, content_hash=digest, metadata=metadata
        )
        dense = self.embedder.embed([new_text])[0]
        # The new point first: a failure between the two leaves both texts, never neither.
        self.store.upsert([Embedded(record=new, dense=dense, sparse=encode_document(new_text))])
        if new.id != old.id:
            self.store.delete([old.id])
        return Edited(old, new)

    def pin(self, memory_id_: str, pinned: bool) -> MemoryRecord | None:
        found = self.get(memory_id_)
        if found is None:
            return None
        metadata = {**found.metadata, "pinned": pinned}
        self.store.set_metadata(found.id, metadata)
        return replace(found, metadata=metadata)

    def forget(self, memory_id_: str) -> MemoryRecord | None:
        """Delete a memory (durably, before this returns); what it was, for the change event. None: no such memory."""
        found = self.get(memory_id_)
        if found is None or self.store.delete([found.id]) == 0:
            return None
        return found

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


def ranking_of(settings: MemorySettings) -> Ranking:
    return Ranking(
        identifier_first=settings.identifier_first,
        collapse_cosine=settings.collapse_cosine or None,
        candidates=settings.candidates,
        prefetch=settings.prefetch,
    )


def open_memory(settings: MemorySettings | None = None) -> Memory:
    settings = settings or MemorySettings()
    embedder = load_embedder(settings.embedding_model)
    return Memory(open_store(settings, embedder), embedder, ranking_of(settings))
