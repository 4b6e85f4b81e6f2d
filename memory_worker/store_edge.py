"""The embedded default: Qdrant Edge, Qdrant's own engine in-process, one shard per collection."""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from .errors import StoreCorrupt, StoreLocked
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

_CONFIG_FILE = "edge_config.json"
# Facets and stats cover every namespace: far above any realistic count of namespaces or KBs.
_FACET_LIMIT = 10_000


def _sparse(sparse: Sparse) -> qe.SparseVector:
    return qe.SparseVector(sparse.indices, sparse.values)


def _match(values: Sequence[str]) -> qe.MatchValue | qe.MatchAny:
    return qe.MatchValue(values[0]) if len(values) == 1 else qe.MatchAny(list(values))


def _filter(namespace: str | None, kbs: Sequence[str] | None) -> qe.Filter | None:
    must: list[Any] = []
    if namespace is not None:
        must.append(qe.FieldCondition(key=NAMESPACE_FIELD, match=qe.MatchValue(namespace)))
    if kbs:
        must.append(qe.FieldCondition(key=KB_FIELD, match=_match(kbs)))
    return qe.Filter(must=must) if must else None


def _browse_filter(flt: BrowseFilter) -> qe.Filter:
    must: list[Any] = [qe.FieldCondition(key=NAMESPACE_FIELD, match=qe.MatchValue(flt.namespace))]
    if flt.kb:
        must.append(qe.FieldCondition(key=KB_FIELD, match=qe.MatchValue(flt.kb)))
    if flt.since is not None or flt.until is not None:
        must.append(qe.FieldCondition(key=CREATED_FIELD, range=qe.RangeFloat(gte=flt.since, lte=flt.until)))
    if flt.approved_by:
        must.append(qe.FieldCondition(key=APPROVED_BY_FIELD, match=qe.MatchValue(flt.approved_by)))
    if flt.pinned_only:
        must.append(qe.FieldCondition(key=PINNED_KEY, match=qe.MatchValue(PINNED_YES)))
    return qe.Filter(must=must)


def _search_filter(query: SearchQuery) -> qe.Filter:
    must: list[Any] = [qe.FieldCondition(key=TENANT_FIELD, match=_match(query.scopes))]
    if query.kb_condition:
        must.append(qe.FieldCondition(key=KB_FIELD, match=_match(query.kb_condition)))
    must += [qe.FieldCondition(key=f"metadata.{key}", match=qe.MatchValue(value)) for key, value in query.match]
    must += [
        qe.FieldCondition(key=f"metadata.{key}", match=qe.MatchAny(list(values))) for key, values in query.match_any
    ]
    return qe.Filter(must=must)


def _hit(point: Any) -> Hit:
    return Hit(record=MemoryRecord.from_payload(str(point.id), point.payload or {}), score=float(point.score))


class EdgeStore:
    def __init__(self, path: Path, dim: int, fusion: Fusion | None = None) -> None:
        self._path = path
        self._dim = dim
        self._fusion = fusion or Fusion()
        # The stub types Fusion's variants apart from Fusion itself; at run time Rrf is a Fusion.
        self._rrf: Any = qe.Fusion.Rrf(
            k=self._fusion.k, weights=[self._fusion.dense_weight, self._fusion.keyword_weight]
        )
        self._shard = self._open()
        self._index_pins()

    @property
    def location(self) -> str:
        return str(self._path)

    def _config(self) -> qe.EdgeConfig:
        return qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=self._dim, distance=qe.Distance.Cosine)},
            sparse_vectors={KEYWORDS: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )

    def _open(self) -> qe.EdgeShard:
        config_file = self._path / _CONFIG_FILE
        if not config_file.exists():
            if self._path.exists() and any(self._path.iterdir()):
                raise StoreCorrupt(self._path, f"{_CONFIG_FILE} is missing but the directory is not empty")
            self._path.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(self._path), self._config())
            shard.update(qe.UpdateOperation.create_field_index(TENANT_FIELD, qe.KeywordIndexParams(is_tenant=True)))
            shard.update(qe.UpdateOperation.create_field_index(NAMESPACE_FIELD, qe.PayloadSchemaType.Keyword))
            shard.update(qe.UpdateOperation.create_field_index(KB_FIELD, qe.PayloadSchemaType.Keyword))
            log.info("created embedded memory store at %s", self._path)
            return shard
        self._check_config(config_file)
        try:
            return qe.EdgeShard.load(str(self._path))
        # pyo3 reports a Rust panic as a BaseException; it means a store we cannot read all the same.
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            text = str(exc).strip()
            if "WouldBlock" in text or "lock" in text.lower():
                raise StoreLocked(self._path) from exc
            raise StoreCorrupt(self._path, text.splitlines()[0] if text else type(exc).__name__) from exc

    def _index_pins(self) -> None:
        # The planner asks for a namespace's pinned memories on every prompt: indexed, that is a lookup
        # rather than a scan of the namespace. Stores made before pins get the index when next opened.
        if PINNED_KEY not in self._shard.info().payload_schema:
            self._shard.update(qe.UpdateOperation.create_field_index(PINNED_KEY, qe.PayloadSchemaType.Keyword))

    def _check_config(self, config_file: Path) -> None:
        try:
            config = json.loads(config_file.read_text())
            size = config["vectors"][DENSE]["size"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreCorrupt(self._path, f"unreadable {_CONFIG_FILE}: {exc}") from exc
        if size != self._dim:
            raise StoreCorrupt(self._path, f"it holds {size}-d vectors but the embedding model makes {self._dim}-d")

    def _idf(self, query: SearchQuery) -> qe.SearchParams | None:
        # IDF over the query's own namespace: one tenant's documents never shift another's ranking.
        if not self._fusion.namespace_idf:
            return None
        return qe.SearchParams(idf=qe.IdfParams(corpus=_filter(query.namespace, None)))

    def upsert(self, items: Sequence[Embedded]) -> None:
        if not items:
            return
        points = [
            qe.Point(
                id=item.record.id,
                vector={DENSE: item.dense.tolist(), KEYWORDS: _sparse(item.sparse)},
                payload=item.record.payload(),
            )
            for item in items
        ]
        self._shard.update(qe.UpdateOperation.upsert_points(points))

    def _request(self, query: SearchQuery, limit: int, depth: int, vectors: bool) -> qe.QueryRequest | None:
        flt = _search_filter(query)
        dense = qe.Query.Nearest(query.dense.tolist(), using=DENSE)
        with_vector = [DENSE] if vectors else None
        if query.keyword_only:
            if not query.sparse.indices:
                return None
            keywords = qe.Query.Nearest(_sparse(query.sparse), using=KEYWORDS)
            return qe.QueryRequest(
                limit=limit,
                query=keywords,
                filter=flt,
                with_payload=True,
                with_vector=with_vector,
                params=self._idf(query),
            )
        if query.sparse.indices:
            return qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(limit=depth, query=dense, filter=flt),
                    qe.Prefetch(
                        limit=depth,
                        query=qe.Query.Nearest(_sparse(query.sparse), using=KEYWORDS),
                        filter=flt,
                        params=self._idf(query),
                    ),
                ],
                query=self._rrf,
                with_payload=True,
                with_vector=with_vector,
            )
        return qe.QueryRequest(limit=limit, query=dense, filter=flt, with_payload=True, with_vector=with_vector)

    def search(self, query: SearchQuery) -> list[Hit]:
        request = self._request(query, query.limit, self._fusion.prefetch_limit(query.limit), vectors=False)
        if request is None:
            return []
        return [_hit(p) for p in self._shard.query(request)]

    def candidates(self, query: SearchQuery, limit: int, depth: int) -> builtins.list[Candidate]:
        request = self._request(query, limit, depth, vectors=True)
        if request is None:
            return []
        return [Candidate(p) for p in self._shard.query(request)]

    def retrieve(self, ids: Sequence[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        records = self._shard.retrieve(list(ids), with_payload=True, with_vector=False)
        return [MemoryRecord.from_payload(str(r.id), r.payload or {}) for r in records]

    def list(self, namespace: str, kb: str | None, limit: int) -> list[MemoryRecord]:
        request = qe.ScrollRequest(limit=limit, filter=_filter(namespace, [kb] if kb else None), with_payload=True)
        records, _ = self._shard.scroll(request)
        return [MemoryRecord.from_payload(str(r.id), r.payload or {}) for r in records]

    def scan(self, flt: BrowseFilter) -> builtins.list[Brief]:
        condition = _browse_filter(flt)
        briefs: builtins.list[Brief] = []
        offset: Any = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=SCAN_PAGE, filter=condition, with_payload=list(BRIEF_FIELDS)
            )
            records, offset = self._shard.scroll(request)
            briefs += [brief_of(str(r.id), r.payload or {}) for r in records]
            if offset is None or not records:
                return briefs

    def set_metadata(self, id_: str, metadata: dict[str, Any]) -> None:
        self._shard.update(qe.UpdateOperation.set_payload([id_], {"metadata": metadata, **pin_payload(metadata)}))
        self._shard.flush()

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {str(r.id) for r in self._shard.retrieve(list(ids), with_payload=False, with_vector=False)}

    def delete(self, ids: Sequence[str]) -> int:
        present = self.existing_ids(ids)
        if present:
            self._shard.update(qe.UpdateOperation.delete_points(list(present)))
            # A forget is acknowledged to a person: on disk before the answer, not at the next flush.
            self._shard.flush()
        return len(present)

    def count(self, namespace: str | None = None, kb: str | None = None) -> int:
        return int(self._shard.count(qe.CountRequest(filter=_filter(namespace, [kb] if kb else None), exact=True)))

    def namespace_stats(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = {}
        namespaces = self._shard.facet(qe.FacetRequest(key=NAMESPACE_FIELD, limit=_FACET_LIMIT, exact=True))
        for ns_hit in namespaces:
            namespace = str(ns_hit.value)
            kbs = self._shard.facet(
                qe.FacetRequest(key=KB_FIELD, limit=_FACET_LIMIT, exact=True, filter=_filter(namespace, None))
            )
            stats[namespace] = {str(h.value): int(h.count) for h in kbs}
        return stats

    def close(self) -> None:
        self._shard.flush()
        self._shard.close()
