"""Memory queries, stores and their results."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .envelope import Body
from .limits import MAX_TEXT_CHARS


class MemoryQuery(Body):
    request_id: str = Field(min_length=1, max_length=64)
    query: str = Field(min_length=1, max_length=4000)
    namespace: str = Field(default="default", max_length=64)
    kb: str | None = Field(default=None, max_length=32)
    top_k: int = Field(default=5, ge=1, le=100)


class MemoryStore(Body):
    request_id: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    namespace: str = Field(default="default", max_length=64)
    kb: str = Field(default="mind", max_length=32)
    source: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class MemoryHit(Body):
    id: str
    score: float
    text: str
    kb: str
    namespace: str
    source: str | None = None


class MemoryResult(Body):
    request_id: str = Field(min_length=1, max_length=64)
    hits: list[MemoryHit] = Field(default_factory=list)
    stored_id: str | None = None
    error: str | None = None
