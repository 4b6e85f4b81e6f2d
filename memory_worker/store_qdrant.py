"""The scale-out path: a Qdrant server (``QDRANT_URL``) through qdrant-client.

The same class runs on qdrant-client's local mode (``location=":memory:"`` or a path), which
is how the tests exercise every request this path sends without a server.
"""

from __future__ import annotations

import builtins
import functools
import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from .errors import StoreUnavailable
from .records import (
    BRIEF_FIELDS,
    PINNED_KEY,
    PINNED_YES,
    Brief,
    BrowseFilter,
    Embedded,
    Hit,
    MemoryRecord,
    SearchQuery,
    brief_of,
    pin_payload,
)
from .sparse import Sparse
from .store import (
    APPROVED_BY_FIELD,
    CREATED_FIELD,
    DENSE,
    KB_FIELD,
    KEYWORDS,
    NAMESPACE_FIELD,
    SCAN_PAGE,
    TENANT_FIELD,
    Candidate,
    Fusion,
)

log = logging.getLogger("memory_worker.store")

T = TypeVar("T")
_FACET_LIMIT = 10_000


def _sparse(sparse: Sparse) -> models.SparseVector:
    return models.SparseVector(indices=sparse.indices, values=sparse.values)


def _match(values: Sequence[str]) -> models.MatchValue | models.MatchAny:
    return models.MatchValue(value=values[0]) if len(values) == 1 else models.MatchAny(any=list(values))


def _filter(namespace: str | None, kbs: Sequence[str] | None) -> models.Filter | None:
    must: list[models.Condition] = []
    if namespace is not None:
        must.append(models.FieldCondition(key=NAMESPACE_FIELD, match=models.MatchValue(value=namespace)))
    if kbs:
        must.append(models.FieldCondition(key=KB_FIELD, match=_match(kbs)))
    return models.Filter(must=must) if must else None


def _browse_filter(flt: BrowseFilter) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key=NAMESPACE_FIELD, match=models.MatchValue(value=flt.namespace))
    ]
    if flt.kb:
        must.append(models.FieldCondition(key=KB_FIELD, match=models.MatchValue(value=flt.kb)))
    if flt.since is not None or flt.until is not None:
        must.append(models.FieldCondition(key=CREATED_FIELD, range=models.Range(gte=flt.since, lte=flt.until)))
    if flt.approved_by:
        must.append(models.FieldCondition(key=APPROVED_BY_FIELD, match=models.MatchValue(value=flt.approved_by)))
    if flt.pinned_only:
        must.append(models.FieldCondition(key=PINNED_KEY, match=models.MatchValue(value=PINNED_YES)))
    return models.Filter(must=must)


def _search_filter(query: SearchQuery) -> models.Filter:
    must: list[models.Condition] = [models.FieldCondition(key=TENANT_FIELD, match=_match(query.scopes))]
    if query.kb_condition:
        must.append(models.FieldCondition(key=KB_FIELD, match=_match(query.kb_condition)))
    must += [
        models.FieldCondition(key=f"metadata.{key}", match=models.MatchValue(value=value)) for key, value in query.match
    ]
    must += [
        models.FieldCondition(key=f"metadata.{key}", match=models.MatchAny(any=list(values)))
        for key, values in query.match_any
    ]
    return models.Filter(must=must)


def _hit(point: models.ScoredPoint) -> Hit:
    return Hit(record=MemoryRecord.from_payload(str(point.id), point.payload or {}), score=float(point.score))


class QdrantStore:
    def __init__(
        self,
        collection: str,
        dim: int,
        *,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        path: str | None = None,
        fusion: Fusion | None = None,
        timeout_s: int = 10,
    ) -> None:
        self._collection = collection
        self._dim = dim
        self._fusion = fusion or Fusion()
        self._where = url or path or location or "?"
        # No version check at start-up: the worker must come up (and answer with clear errors) while the server is down.
        self._client = QdrantClient(
            url=url, api_key=api_key, location=location, path=path, timeout=timeout_s, check_compatibility=False
        )
        self._ready = False

    @property
    def location(self) -> str:
        return f"{self._where} (collection {self._collection})"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        # Checked on every call, not once: a server that was down at start is picked up when it is back.
        try:
            if not self._ready:
                self._ensure_collection()
                self._ready = True
            return fn()
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailable(f"Qdrant at {self._where} is unreachable during {what}: {exc}") from exc
        except UnexpectedResponse as exc:
            if exc.status_code is not None and exc.status_code >= 500:
                raise StoreUnavailable(f"Qdrant at {self._where} failed during {what}: {exc}") from exc
            raise

    def _ensure_collection(self) -> None:
        if self._client.collection_exists(self._collection):
            info = self._client.get_collection(self._collection)
            vectors = info.config.params.vectors
            size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
            if size != self._dim:
                raise StoreUnavailable(
                    f"collection {self._collection} at {self._where} holds {size}-d vectors, "
                    f"the embedding model makes {self._dim}-d"
                )
            if PINNED_KEY not in (info.payload_schema or {}):
                # A collection made before pins: the planner's per-prompt lookup of them is indexed too.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    self._client.create_payload_index(
                        self._collection, PINNED_KEY, field_schema=models.PayloadSchemaType.KEYWORD
                    )
            return
        self._client.create_collection(
            self._collection,
            vectors_config={DENSE: models.VectorParams(size=self._dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={KEYWORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        with warnings.catch_warnings():
            # Local mode (tests) says its payload indexes are no-ops; a server builds them.
            warnings.simplefilter("ignore", UserWarning)
            self._create_indexes()
        log.info("created collection %s at %s", self._collection, self._where)

    def _create_indexes(self) -> None:
        self._client.create_payload_index(
            self._collection,
            TENANT_FIELD,
            field_schema=models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
        )
        for field in (NAMESPACE_FIELD, KB_FIELD, PINNED_KEY):
            self._client.create_payload_index(self._collection, field, field_schema=models.PayloadSchemaType.KEYWORD)

    def _idf(self, query: SearchQuery) -> models.SearchParams | None:
        # IDF over the query's own namespace: one tenant's documents never shift another's ranking.
        if not self._fusion.namespace_idf:
            return None
        corpus = _filter(query.namespace, None)
        assert corpus is not None
        return models.SearchParams(idf=models.IdfCorpusParams(corpus=corpus))

    def upsert(self, items: Sequence[Embedded]) -> None:
        if not items:
            return
        points = [
            models.PointStruct(
                id=item.record.id,
                vector={DENSE: item.dense.tolist(), KEYWORDS: _sparse(item.sparse)},
                payload=item.record.payload(),
            )
            for item in items
        ]
        self._call("upsert", lambda: self._client.upsert(self._collection, points, wait=True))

    def _query(self, query: SearchQuery, limit: int, depth: int, vectors: bool) -> list[models.ScoredPoint]:
        flt = _search_filter(query)
        dense = query.dense.tolist()
        with_vectors: bool | list[str] = [DENSE] if vectors else False

        def run() -> list[models.ScoredPoint]:
            if query.keyword_only:
                if not query.sparse.indices:
                    return []
                return self._client.query_points(
                    self._collection,
                    query=_sparse(query.sparse),
                    using=KEYWORDS,
                    query_filter=flt,
                    limit=limit,
                    with_payload=True,
                    with_vectors=with_vectors,
                    search_params=self._idf(query),
                ).points
            if not query.sparse.indices:
                return self._client.query_points(
                    self._collection,
                    query=dense,
                    using=DENSE,
                    query_filter=flt,
                    limit=limit,
                    with_payload=True,
                    with_vectors=with_vectors,
                ).points
            return self._client.query_points(
                self._collection,
                prefetch=[
                    models.Prefetch(query=dense, using=DENSE, filter=flt, limit=depth),
                    models.Prefetch(
                        query=_sparse(query.sparse), using=KEYWORDS, filter=flt, limit=depth, params=self._idf(query)
                    ),
                ],
                query=models.RrfQuery(
                    rrf=models.Rrf(k=self._fusion.k, weights=[self._fusion.dense_weight, self._fusion.keyword_weight])
                ),
                limit=limit,
                with_payload=True,
                with_vectors=with_vectors,
            ).points

        return self._call("search", run)

    def search(self, query: SearchQuery) -> list[Hit]:
        return [_hit(p) for p in self._query(query, query.limit, self._fusion.prefetch_limit(query.limit), False)]

    def candidates(self, query: SearchQuery, limit: int, depth: int) -> builtins.list[Candidate]:
        return [Candidate(p) for p in self._query(query, limit, depth, True)]

    def _retrieve(self, ids: Sequence[str], with_payload: bool) -> list[models.Record]:
        return self._call(
            "retrieve",
            lambda: self._client.retrieve(self._collection, list(ids), with_payload=with_payload, with_vectors=False),
        )

    def retrieve(self, ids: Sequence[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        return [MemoryRecord.from_payload(str(r.id), r.payload or {}) for r in self._retrieve(ids, True)]

    def list(self, namespace: str, kb: str | None, limit: int) -> list[MemoryRecord]:
        flt = _filter(namespace, [kb] if kb else None)
        records, _ = self._call(
            "scroll", lambda: self._client.scroll(self._collection, scroll_filter=flt, limit=limit, with_payload=True)
        )
        return [MemoryRecord.from_payload(str(r.id), r.payload or {}) for r in records]

    def scan(self, flt: BrowseFilter) -> builtins.list[Brief]:
        condition = _browse_filter(flt)
        briefs: builtins.list[Brief] = []
        offset: Any = None
        while True:
            records, offset = self._call("scroll", functools.partial(self._brief_page, condition, offset))
            briefs += [brief_of(str(r.id), r.payload or {}) for r in records]
            if offset is None or not records:
                return briefs

    def _brief_page(self, condition: models.Filter, offset: Any) -> tuple[builtins.list[models.Record], Any]:
        return self._client.scroll(
            self._collection, scroll_filter=condition, limit=SCAN_PAGE, offset=offset, with_payload=list(BRIEF_FIELDS)
        )

    def set_metadata(self, id_: str, metadata: dict[str, Any]) -> None:
        # `key` unset: the top-level `metadata` value is replaced whole, not merged into.
        self._call(
            "set_payload",
            lambda: self._client.set_payload(
                self._collection, {"metadata": metadata, **pin_payload(metadata)}, points=[id_], wait=True
            ),
        )

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(r.id) for r in self._retrieve(ids, False)}

    def delete(self, ids: Sequence[str]) -> int:
        present = self.existing_ids(ids)
        if present:
            selector = models.PointIdsList(points=list(present))
            self._call("delete", lambda: self._client.delete(self._collection, selector, wait=True))
        return len(present)

    def count(self, namespace: str | None = None, kb: str | None = None) -> int:
        flt = _filter(namespace, [kb] if kb else None)
        return self._call("count", lambda: self._client.count(self._collection, count_filter=flt, exact=True).count)

    def namespace_stats(self) -> dict[str, dict[str, int]]:
        def facet(key: str, flt: models.Filter | None) -> list[Any]:
            return self._call(
                "facet",
                lambda: (
                    self._client.facet(self._collection, key, facet_filter=flt, limit=_FACET_LIMIT, exact=True).hits
                ),
            )

        return {
            str(ns.value): {str(kb.value): int(kb.count) for kb in facet(KB_FIELD, _filter(str(ns.value), None))}
            for ns in facet(NAMESPACE_FIELD, None)
        }

    def close(self) -> None:
        self._client.close()
