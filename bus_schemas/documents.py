"""Documents: a file a person uploaded (kept in the `pagi_documents` object store, named by its
digest), what reading it found, and the requests that read it and store it in memory.

A document job is two steps of the planner: `ActionReadDocument` (the memory worker converts and
chunks the file, no memory touched, so no approval) and then `ActionStoreDocument` (gated: the
approval shows the file, its size, its chunks and a preview; the person may change the namespace and
knowledge base). Both answer on `memory.result.<session>`; progress is on `job.log.<session>`.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from .envelope import Body

# What the upload door accepts, by extension; the memory worker reads each with a maintained library.
DOCUMENT_FORMATS: Final = (
    ".pdf", ".docx", ".pptx", ".xlsx", ".csv", ".html", ".htm",
    ".md", ".markdown", ".txt", ".text", ".rst", ".log", ".json", ".yaml", ".yml",
)  # fmt: skip
DIGEST_PATTERN: Final = r"^[0-9a-f]{64}$"
MAX_PREVIEW_CHUNKS: Final = 3
MAX_PREVIEW_CHARS: Final = 600
MAX_EXCERPT_CHARS: Final = 24_000
# A chat message offers at most this many files to the twin.
MAX_ATTACHMENTS: Final = 10


def document_id_of(digest: str) -> str:
    """A document's id: the same bytes are the same document (uploaded twice, stored once)."""
    return f"doc-{digest[:32]}"


class DocumentRef(Body):
    """An uploaded file: the object `digest` in `pagi_documents`, and what the uploader called it."""

    document_id: str = Field(pattern=r"^doc-[0-9a-f]{32}$")
    digest: str = Field(pattern=DIGEST_PATTERN)
    filename: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0)
    content_type: str | None = Field(default=None, max_length=200)


class ParsedDocument(Body):
    """What reading a document found: enough for the person deciding whether to store it."""

    document_id: str = Field(pattern=r"^doc-[0-9a-f]{32}$")
    filename: str = Field(max_length=255)
    size: int = Field(ge=0)
    format: str = Field(max_length=32, description="the converter's name for it: pdf, docx, csv, markdown, …")
    pages: int | None = Field(default=None, ge=0, description="PDF pages, slides; None where a format has none")
    chunks: int = Field(ge=0)
    characters: int = Field(ge=0)
    preview: list[str] = Field(default_factory=list, max_length=MAX_PREVIEW_CHUNKS)
    # The start of the converted text, offered to the twin when the file came with a chat message.
    excerpt: str = Field(default="", max_length=MAX_EXCERPT_CHARS)
    warnings: list[str] = Field(default_factory=list, max_length=20)


class DocumentParse(Body):
    """`memory.parse.<session>`: convert and chunk a document; nothing is stored in memory."""

    request_id: str = Field(min_length=1, max_length=64)
    document: DocumentRef
    namespace: str = Field(default="default", max_length=64)
    kb: str = Field(default="domain", max_length=32)


class DocumentIngest(Body):
    """`memory.ingest.<session>`: store an (approved) document's chunks in memory. The worker checks
    `approval_id` names an approved approval of this session that allows this request."""

    request_id: str = Field(min_length=1, max_length=64)
    approval_id: str = Field(min_length=1, max_length=64)
    document: DocumentRef
    namespace: str = Field(default="default", max_length=64)
    kb: str = Field(default="domain", max_length=32)
