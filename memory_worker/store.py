"""The one small interface both storage paths implement (embedded Qdrant Edge, Qdrant server).

Layout, after Qdrant's multitenancy guidance: one collection per embedding model, every
namespace in it, told apart by a payload field indexed as the tenant key (``is_tenant``),
plus ``namespace`` and ``kb`` keyword indexes. A collection per namespace would multiply
fixed per-collection costs (segments, WAL, indexes, file handles) with every twin and use
case; a tenant-keyed field keeps one set of them and lets Qdrant lay each tenant's points
out together, so a filtered search stays a small, contiguous scan.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from .records import Brief, BrowseFilter, Embedded, Hit, MemoryRecord, SearchQuery, Vector

DENSE: Final = "dense"
KEYWORDS: Final = "keywords"
TENANT_FIELD: Final = "scope"  # the namespace, or "<namespace>/soul" (see records.scope_of)
NAMESPACE_FIELD: Final = "namespace"
KB_FIELD: Final = "kb"
CREATED_FIELD: Final = "created_at"
APPROVED_BY_FIELD: Final = "metadata.approved_by"
# A browse reads the brief of every matching memory in pages of this many.
SCAN_PAGE: Final = 5000


@dataclass(frozen=True, slots=True)
class Fusion:
    """Reciprocal rank fusion of the dense and keyword result lists."""

    k: int = 10
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    # Keyword IDF computed over the searched namespace rather than the whole collection.
    namespace_idf: bool = True

    def prefetch_limit(self, limit: int) -> int:
        return max(4 * limit, 20)


class Candidate:
    """A fused hit for the memory's own re-ranking (memory.rerank), read from the store's answer only
    as far as the ranking asks: of 200 candidates it keeps a few, and converting each point's payload
    and vector costs more than the query itself. ``point`` is a scored point of either store path."""

    __slots__ = ("_dense", "_payload", "_point")

    def __init__(self, point: Any) -> None:
        self._point = point
        self._payload: dict[str, Any] | None = None
        self._dense: Vector | None = None

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            self._payload = self._point.payload or {}
        return self._payload

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def dense(self) -> Vector:
        if self._dense is None:
            vector = self._point.vector
            self._dense = np.asarray(vector[DENSE] if isinstance(vector, dict) else vector, dtype=np.float32)
        return self._dense

    def hit(self, score: float | None = None) -> Hit:
        score = float(self._point.score) if score is None else score
        return Hit(record=MemoryRecord.from_payload(str(self._point.id), self.payload), score=score)

    @property
    def score(self) -> float:
        return float(self._point.score)


class MemoryStore(Protocol):
    @property
    def location(self) -> str:
        """Where the data lives: a directory or a server URL (for logs and /health)."""
        ...

    def upsert(self, items: Sequence[Embedded]) -> None: ...

    def search(self, query: SearchQuery) -> list[Hit]: ...

    def candidates(self, query: SearchQuery, limit: int, depth: int) -> builtins.list[Candidate]:
        """The ``limit`` best of the same hybrid search as ``search``, each prefetch ``depth`` deep, with
        their dense vectors. ``query.limit`` is not used."""
        ...

    def retrieve(self, ids: Sequence[str]) -> list[MemoryRecord]: ...

    def list(self, namespace: str, kb: str | None, limit: int) -> list[MemoryRecord]:
        """Up to ``limit`` memories of a namespace (and KB), in no particular order."""
        ...

    def scan(self, flt: BrowseFilter) -> builtins.list[Brief]:
        """The brief (id, created_at, source) of every memory the filter selects, bar `source_contains`."""
        ...

    def set_metadata(self, id_: str, metadata: dict[str, Any]) -> None:
        """Replace one memory's metadata (its vectors and text unchanged)."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]: ...

    def delete(self, ids: Sequence[str]) -> int:
        """Remove the points, durably: once this returns no search or read finds them, after a restart too."""
        ...

    def count(self, namespace: str | None = None, kb: str | None = None) -> int: ...

    def namespace_stats(self) -> dict[str, dict[str, int]]:
        """Points per KB for every namespace."""
        ...

    def close(self) -> None: ...
