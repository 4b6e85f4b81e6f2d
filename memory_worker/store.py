"""The one small interface both storage paths implement (embedded Qdrant Edge, Qdrant server).

Layout, after Qdrant's multitenancy guidance: one collection per embedding model, every
namespace in it, told apart by a payload field indexed as the tenant key (``is_tenant``),
plus ``namespace`` and ``kb`` keyword indexes. A collection per namespace would multiply
fixed per-collection costs (segments, WAL, indexes, file handles) with every twin and use
case; a tenant-keyed field keeps one set of them and lets Qdrant lay each tenant's points
out together, so a filtered search stays a small, contiguous scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from .records import Embedded, Hit, MemoryRecord, SearchQuery

DENSE: Final = "dense"
KEYWORDS: Final = "keywords"
TENANT_FIELD: Final = "scope"  # the namespace, or "<namespace>/soul" (see records.scope_of)
NAMESPACE_FIELD: Final = "namespace"
KB_FIELD: Final = "kb"


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


class MemoryStore(Protocol):
    @property
    def location(self) -> str:
        """Where the data lives: a directory or a server URL (for logs and /health)."""
        ...

    def upsert(self, items: Sequence[Embedded]) -> None: ...

    def search(self, query: SearchQuery) -> list[Hit]: ...

    def retrieve(self, ids: Sequence[str]) -> list[MemoryRecord]: ...

    def list(self, namespace: str, kb: str | None, limit: int) -> list[MemoryRecord]:
        """Up to ``limit`` memories of a namespace (and KB), in no particular order."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]: ...

    def delete(self, ids: Sequence[str]) -> int: ...

    def count(self, namespace: str | None = None, kb: str | None = None) -> int: ...

    def namespace_stats(self) -> dict[str, dict[str, int]]:
        """Points per KB for every namespace."""
        ...

    def close(self) -> None: ...
