"""Memory queries, stores and their results."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Self

from pydantic import Field, model_validator

from .documents import ParsedDocument
from .envelope import Body
from .limits import MAX_TEXT_CHARS
from .subjects import TOKEN_RE

# One memory.store carries a batch of knowledge-base chunks; the sum keeps it well under the
# stream's 1 MiB message limit once encoded.
MAX_ITEMS_PER_STORE: Final = 256
MAX_ITEMS_CHARS: Final = 512_000

# A memory namespace's name (records.access: `user-<id>` is that user's own, the rest are shared).
NAMESPACE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

MemoryErrorKind = Literal["invalid", "unknown_namespace", "unavailable", "unreadable", "cancelled"]


class MemoryQuery(Body):
    request_id: str = Field(min_length=1, max_length=64)
    query: str = Field(min_length=1, max_length=4000)
    namespace: str = Field(default="default", max_length=64)
    kb: str | None = Field(default=None, max_length=32)
    # Several KBs at once; `kb` is the one-KB shorthand. Neither: every KB but Soul.
    kbs: list[str] | None = Field(default=None, max_length=5)
    top_k: int = Field(default=5, ge=1, le=100)


class MemoryItem(Body):
    """One chunk of a batch store (``pagi kb ingest``)."""

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    kb: str = Field(default="domain", max_length=32)
    source: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class MemoryStore(Body):
    """Save one memory (``text``) or a batch of chunks (``items``), never both."""

    request_id: str = Field(min_length=1, max_length=64)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)
    namespace: str = Field(default="default", max_length=64)
    kb: str = Field(default="mind", max_length=32)
    source: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    items: list[MemoryItem] = Field(default_factory=list, max_length=MAX_ITEMS_PER_STORE)
    # A twin's proposed memory, approved: the worker checks the approval allows this request and
    # records who approved it in the memory's provenance.
    approval_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.text is None) == (not self.items):
            raise ValueError("give either text or items")
        if sum(len(i.text) for i in self.items) > MAX_ITEMS_CHARS:
            raise ValueError(f"items hold more than {MAX_ITEMS_CHARS} characters; send smaller batches")
        return self


class MemoryHit(Body):
    id: str
    score: float
    text: str
    kb: str
    namespace: str
    source: str | None = None
    # Provenance for citations: the page of a document, the document, the session it was said in.
    page: int | None = None
    document_id: str | None = None
    session_id: str | None = None


class MemoryResult(Body):
    request_id: str = Field(min_length=1, max_length=64)
    hits: list[MemoryHit] = Field(default_factory=list)
    # A single store: its id. A batch: one id per item, in order, and whether each was new.
    stored_id: str | None = None
    stored_ids: list[str] = Field(default_factory=list)
    created: list[bool] = Field(default_factory=list)
    # A document read (memory.parse): what it holds. A document stored (memory.ingest): how many
    # chunks went in and how many were new (ids are not listed: a large file has tens of thousands).
    document: ParsedDocument | None = None
    stored_count: int | None = None
    new_count: int | None = None
    error: str | None = None
    error_kind: MemoryErrorKind | None = None


# --- Request/reply for the edge's HTTP API --------------------------------------------------------
# Core NATS request/reply, not stream events: a search per keystroke should not be persisted. The
# subject is outside PAGI_EVENTS' `memory.>` so JetStream never captures it. Payloads are JSON.

MEMORY_API_SUBJECT: Final = "api.memory"
# A member's global search names their sessions; this many keep the request well under 1 MiB.
MAX_SESSION_IDS: Final = 10_000
MemoryApiOp = Literal[
    "search", "get", "delete", "list", "namespaces", "search_events",
    # Governance (the Mind view): a page of memories with filters, edit, pin, forget, the pinned ones.
    "browse", "update", "pin", "forget", "pinned",
]  # fmt: skip


class MemoryApiRequest(Body):
    op: MemoryApiOp
    query: str | None = Field(default=None, max_length=4000)
    namespace: str = Field(default="default", max_length=64)
    kb: str | None = Field(default=None, max_length=32)
    kbs: list[str] | None = Field(default=None, max_length=5)
    k: int = Field(default=5, ge=1, le=100)
    id: str | None = Field(default=None, max_length=64)
    # list: a namespace's memories (of `kb`, if given) in reading order, e.g. Soul for the prompt
    limit: int = Field(default=100, ge=1, le=1000)
    # search_events (global search): optional filters
    kind: Literal["message", "log"] | None = None
    session_id: str | None = Field(default=None, max_length=64)
    # Only hits from these sessions (the caller's own); None: every session (an admin's search).
    session_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=MAX_SESSION_IDS)
    # browse: paging and filters (source contains, created between, approved by, pinned only)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    source: str | None = Field(default=None, max_length=1000)
    since: float | None = None
    until: float | None = None
    approved_by: str | None = Field(default=None, max_length=160)
    pinned_only: bool = False
    # update: the new text; pin: pinned or not
    text: str | None = Field(default=None, min_length=1, max_length=8000)
    pinned: bool | None = None
    # update, pin, forget: who did it, as the change event records it
    actor: str | None = Field(default=None, max_length=160)


# A search on behalf of a session's tool run (the `vector_query` built-in): its own subject, which only
# the tool worker may publish, answered with a `MemoryResult` on the asker's inbox. The memory worker
# checks the session's owner may use the namespace (records.access), as for `memory.query`.
MEMORY_SESSION_API_SUBJECT: Final = "api.memory.session"


class SessionMemoryQuery(MemoryQuery):
    session_id: str = Field(pattern=TOKEN_RE.pattern)


class MemoryRecordOut(Body):
    id: str
    text: str
    kb: str
    namespace: str
    source: str | None = None
    created_at: float
    # Provenance (file, page, session, job, approval, approved_by, twin), `pinned`, and `history`
    # (earlier texts of an edited memory, newest last).
    metadata: dict[str, Any] = Field(default_factory=dict)


# Every governance change is an event: `memory.changed.<MEMORY_AUDIT_SESSION>` in PAGI_EVENTS.
MEMORY_AUDIT_SESSION: Final = "memory-audit"


class MemoryChanged(Body):
    op: Literal["edited", "pinned", "unpinned", "forgotten"]
    memory_id: str = Field(max_length=64)
    namespace: str = Field(max_length=64)
    kb: str = Field(max_length=32)
    by: str = Field(max_length=160)
    # edited: the memory's new id (ids are content hashes); the earlier text stays in its history
    new_id: str | None = Field(default=None, max_length=64)


class EventHitOut(Body):
    kind: Literal["message", "log"]
    text: str
    score: float
    session_id: str
    ts: str  # ISO 8601
    job_id: str | None = None
    twin_id: str | None = None
    sender: str | None = None
    level: str | None = None
    event_id: str


class MemoryApiReply(Body):
    ok: bool
    results: list[MemoryHit] = Field(default_factory=list)
    memory: MemoryRecordOut | None = None
    memories: list[MemoryRecordOut] = Field(default_factory=list)
    deleted: bool | None = None
    namespaces: dict[str, dict[str, int]] | None = None
    events: list[EventHitOut] = Field(default_factory=list)
    # browse: where the next page starts (None: this was the last)
    next_offset: int | None = None
    error: str | None = None
    error_kind: Literal["invalid", "unknown_namespace", "unavailable", "not_found"] | None = None
