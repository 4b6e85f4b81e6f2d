"""A document read: converted, chunked section by section (a chunk never spans two pages), summed up
for the person who approves it, and kept a while so the ingest after an approval need not read it again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from bus_schemas.documents import (
    MAX_EXCERPT_CHARS,
    MAX_PREVIEW_CHARS,
    MAX_PREVIEW_CHUNKS,
    DocumentRef,
    ParsedDocument,
)

from .chunking import DEFAULT_MAX_CHARS, chunk_document
from .conversion import Converted, Progress, convert
from .documents import Unreadable
from .memory import NewMemory

MAX_WARNINGS: Final = 20
# Recent reads kept in memory, by digest: a parse is followed by its ingest minutes later. Bounded in
# number and in text held (a 50 MB spreadsheet can hold far more characters than its size).
CACHE_DOCUMENTS: Final = 8
CACHE_CHARACTERS: Final = 64_000_000


@dataclass(frozen=True, slots=True)
class DocChunk:
    text: str
    index: int
    page: int | None
    heading: str | None


@dataclass(frozen=True, slots=True)
class ReadDocument:
    converted: Converted
    chunks: list[DocChunk]

    def parsed(self, ref: DocumentRef) -> ParsedDocument:
        preview = [c.text[:MAX_PREVIEW_CHARS] for c in self.chunks[:MAX_PREVIEW_CHUNKS]]
        return ParsedDocument(
            document_id=ref.document_id,
            filename=ref.filename,
            size=ref.size,
            format=self.converted.format,
            pages=self.converted.pages,
            chunks=len(self.chunks),
            characters=self.converted.characters,
            preview=preview,
            excerpt=self.excerpt(),
            warnings=self.converted.warnings[:MAX_WARNINGS],
        )

    def excerpt(self) -> str:
        """The start of the text, section by section, as much as a twin is offered in a conversation."""
        parts: list[str] = []
        room = MAX_EXCERPT_CHARS
        for section in self.converted.sections:
            if room <= 0:
                break
            text = section.text.strip()[:room]
            parts.append(text)
            room -= len(text) + 2
        return "\n\n".join(p for p in parts if p)[:MAX_EXCERPT_CHARS]

    def memories(self, ref: DocumentRef, namespace: str, kb: str, provenance: dict[str, Any]) -> list[NewMemory]:
        """The chunks as memories, each with the contract's provenance keys (bus_schemas/documents.py)."""
        out = []
        for chunk in self.chunks:
            metadata: dict[str, Any] = {
                "kind": "document",
                "document_id": ref.document_id,
                "filename": ref.filename,
                "chunk": chunk.index,
                **provenance,
            }
            if chunk.page is not None:
                metadata["page"] = chunk.page
            if chunk.heading:
                metadata["heading"] = chunk.heading
            out.append(NewMemory(chunk.text, namespace, kb, ref.filename, metadata))
        return out


def read_document_bytes(
    data: bytes, filename: str, progress: Progress | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> ReadDocument:
    converted = convert(data, filename, progress)
    chunks: list[DocChunk] = []
    for section in converted.sections:
        for chunk in chunk_document(section.text, section.kind, max_chars):
            chunks.append(DocChunk(chunk.text, len(chunks), section.page, chunk.heading))
    if not chunks:
        raise Unreadable(f"{filename} holds no text")
    return ReadDocument(converted, chunks)


class RecentReads:
    """A small LRU of read documents by digest, shared by the handlers' threads."""

    def __init__(self, size: int = CACHE_DOCUMENTS, characters: int = CACHE_CHARACTERS) -> None:
        self._size = size
        self._characters = characters
        self._items: OrderedDict[str, ReadDocument] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> ReadDocument | None:
        with self._lock:
            found = self._items.get(digest)
            if found is not None:
                self._items.move_to_end(digest)
            return found

    def put(self, digest: str, read: ReadDocument) -> None:
        with self._lock:
            self._items[digest] = read
            self._items.move_to_end(digest)
            held = sum(r.converted.characters for r in self._items.values())
            while len(self._items) > self._size or (len(self._items) > 1 and held > self._characters):
                _, dropped = self._items.popitem(last=False)
                held -= dropped.converted.characters
