"""What a memory is, independent of where it is stored."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bus_schemas.memory import NAMESPACE_PATTERN, MemoryHit

from .sparse import Sparse

# The seed's five knowledge bases. Soul feeds the system prompt, so plain searches leave it out.
KB_NAMES: Final = ("soul", "domain", "body", "heart", "mind")
SEARCHABLE_KBS: Final = ("domain", "body", "heart", "mind")
DEFAULT_NAMESPACE: Final = "default"
NAMESPACE_RE: Final = re.compile(NAMESPACE_PATTERN)

_ID_NAMESPACE: Final = uuid.UUID("6f1c1e4a-5d0b-4f5e-9a52-7d3a0c1b2e90")
_SPACES: Final = re.compile(r"\s+")

Vector = npt.NDArray[np.float32]


def scope_of(namespace: str, kb: str) -> str:
    """The tenant key. Soul lives beside its namespace, not in it, so the default search (every KB
    but Soul) filters on the tenant key alone: an extra KB condition costs the embedded store
    3-4x on a 20k-point namespace."""
    return f"{namespace}/soul" if kb == "soul" else namespace


def content_hash(text: str) -> str:
    """Hash of the text with whitespace runs collapsed, so re-ingesting a reflowed file is a no-op."""
    return hashlib.sha256(_SPACES.sub(" ", text).strip().encode("utf-8")).hexdigest()


def memory_id(namespace: str, kb: str, digest: str) -> str:
    """The same text in the same namespace and KB always gets the same id: dedupe and idempotence."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{namespace}\x00{kb}\x00{digest}"))


# `metadata.pinned` (a bool) is what a memory says; this top-level keyword mirrors it for filtering,
# because Qdrant Edge's Python binding matches a bool as an integer and so never finds `true`.
PINNED_KEY: Final = "pinned"
PINNED_YES: Final = "yes"


def pin_payload(metadata: dict[str, Any]) -> dict[str, Any]:
    return {PINNED_KEY: PINNED_YES if metadata.get("pinned") is True else "no"}


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    id: str
    text: str
    namespace: str
    kb: str
    content_hash: str
    created_at: float
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            **pin_payload(self.metadata),
            "text": self.text,
            "namespace": self.namespace,
            "scope": scope_of(self.namespace, self.kb),
            "kb": self.kb,
            "content_hash": self.content_hash,
            "created_at": self.created_at,
            "source": self.source,
            "metadata": self.metadata,
        }

    @classmethod
    def from_payload(cls, point_id: str, payload: dict[str, Any]) -> MemoryRecord:
        return cls(
            id=str(point_id),
            text=str(payload.get("text", "")),
            namespace=str(payload.get("namespace", "")),
            kb=str(payload.get("kb", "")),
            content_hash=str(payload.get("content_hash", "")),
            created_at=float(payload.get("created_at", 0.0)),
            source=payload.get("source"),
            metadata=dict(payload.get("metadata") or {}),
        )


@dataclass(frozen=True, slots=True)
class Embedded:
    """A record with the two vectors hybrid search needs."""

    record: MemoryRecord
    dense: Vector
    sparse: Sparse


@dataclass(frozen=True, slots=True)
class SearchQuery:
    dense: Vector
    sparse: Sparse
    namespace: str
    kbs: tuple[str, ...]
    limit: int
    # Global search: rank by keywords alone, and filter on metadata fields (key, value).
    keyword_only: bool = False
    match: tuple[tuple[str, str], ...] = ()
    # (key, values): the field is any one of the values (global search: the caller's sessions).
    match_any: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(scope_of(self.namespace, kb) for kb in self.kbs))

    @property
    def kb_condition(self) -> tuple[str, ...] | None:
        """KBs to filter on, or None when the scopes alone select exactly the asked KBs."""
        if set(self.kbs) in ({"soul"}, set(SEARCHABLE_KBS), set(KB_NAMES)):
            return None
        return self.kbs


@dataclass(frozen=True, slots=True)
class BrowseFilter:
    """Which memories of a namespace a browse sees. The store applies all but `source_contains`,
    which the memory checks itself (case-insensitive, the same on both store paths)."""

    namespace: str
    kb: str | None = None
    source_contains: str | None = None
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at <= until
    approved_by: str | None = None
    pinned_only: bool = False


@dataclass(frozen=True, slots=True)
class Brief:
    """What a browse sorts and filters by before it reads whole records."""

    id: str
    created_at: float
    source: str | None


BRIEF_FIELDS: Final = ("created_at", "source")


@dataclass(frozen=True, slots=True)
class Hit:
    record: MemoryRecord
    score: float


def as_memory_hit(hit: Hit) -> MemoryHit:
    """A search hit as the wire shape both the bus reply and the request/reply API send."""
    record = hit.record
    meta = record.metadata
    page = meta.get("page")
    return MemoryHit(
        id=record.id,
        score=hit.score,
        text=record.text,
        kb=record.kb,
        namespace=record.namespace,
        source=record.source,
        # bool is an int too: a stray `page: true` is no page.
        page=page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else None,
        document_id=_text(meta.get("document_id")),
        session_id=_text(meta.get("session_id")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def brief_of(point_id: str, payload: dict[str, Any]) -> Brief:
    source = payload.get("source")
    return Brief(str(point_id), float(payload.get("created_at", 0.0)), source if isinstance(source, str) else None)
