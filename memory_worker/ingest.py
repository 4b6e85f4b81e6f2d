"""Knowledge-base ingestion: walk a folder, read and chunk each file, store the chunks. DOCX, PPTX,
XLSX, CSV and HTML files are converted as uploads are (conversion.py).

Planning (reading and chunking) is separate from storing, so the same plan can be stored
directly into a ``Memory`` (tests, bench, a stopped stack) or sent over the bus to the
running worker (``pagi kb ingest``). Re-ingesting is a no-op: chunk ids are content hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .chunking import DEFAULT_MAX_CHARS, chunk_document
from .conversion import FORMATS
from .documents import KINDS, MAX_FILE_BYTES, Unreadable, read_document
from .memory import Memory, NewMemory, check_kb, check_namespace
from .reader import read_document_bytes
from .records import DEFAULT_NAMESPACE, KB_NAMES

DEFAULT_KB: Final = "domain"
BATCH: Final = 256

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(slots=True)
class IngestPlan:
    root: Path
    namespace: str
    items: list[NewMemory] = field(default_factory=list)
    files: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self, created: int) -> IngestSummary:
        """What ingesting this plan did, once `created` of its chunks turned out to be new."""
        return IngestSummary(
            files=self.files,
            chunks=len(self.items),
            created=created,
            duplicates=len(self.items) - created,
            skipped=tuple(self.skipped),
        )


@dataclass(frozen=True, slots=True)
class IngestSummary:
    files: int
    chunks: int
    created: int
    duplicates: int
    skipped: tuple[Skipped, ...]

    def lines(self) -> list[str]:
        out = [
            f"{self.files} files, {self.chunks} chunks: {self.created} new, {self.duplicates} already stored, "
            f"{len(self.skipped)} files skipped"
        ]
        out += [f"skipped {s.path}: {s.reason}" for s in self.skipped]
        return out


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file():
            yield path


def kb_for(root: Path, path: Path, kb: str | None) -> str:
    """The KB a file goes to: as asked, else the first folder named like a KB, else domain."""
    if kb:
        return check_kb(kb)
    folders = (root.parent.name,) if root.is_file() else (root.name, *path.relative_to(root).parts[:-1])
    for part in folders:
        if part.lower() in KB_NAMES:
            return part.lower()
    return DEFAULT_KB


def plan_ingest(
    root: Path, namespace: str = DEFAULT_NAMESPACE, kb: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> IngestPlan:
    check_namespace(namespace)
    if kb:
        check_kb(kb)
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    plan = IngestPlan(root=root, namespace=namespace)
    for path in _files(root):
        if path.suffix.lower() in FORMATS and path.suffix.lower() not in KINDS:
            _plan_converted(plan, root, path, kb, max_chars)
            continue
        try:
            doc = read_document(path)
        except Unreadable as exc:
            plan.skipped.append(Skipped(str(path), str(exc)))
            continue
        chunks = chunk_document(doc.text, doc.kind, max_chars)
        if not chunks:
            plan.skipped.append(Skipped(str(path), "no text"))
            continue
        plan.files += 1
        target = kb_for(root, path, kb)
        for chunk in chunks:
            metadata: dict[str, object] = {"chunk": chunk.index, "encoding": doc.encoding}
            if chunk.heading:
                metadata["heading"] = chunk.heading
            plan.items.append(
                NewMemory(text=chunk.text, namespace=namespace, kb=target, source=str(path), metadata=metadata)
            )
    return plan


def _plan_converted(plan: IngestPlan, root: Path, path: Path, kb: str | None, max_chars: int) -> None:
    """An Office file, a spreadsheet or a web page, read as an upload is (conversion.py)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise Unreadable(f"file is {path.stat().st_size} bytes; the limit is {MAX_FILE_BYTES}")
        read = read_document_bytes(path.read_bytes(), path.name, max_chars=max_chars)
    except OSError as exc:
        plan.skipped.append(Skipped(str(path), f"cannot read: {exc.strerror or exc}"))
        return
    except Unreadable as exc:
        plan.skipped.append(Skipped(str(path), str(exc)))
        return
    plan.files += 1
    target = kb_for(root, path, kb)
    for chunk in read.chunks:
        metadata: dict[str, object] = {"chunk": chunk.index, "format": read.converted.format}
        if chunk.page is not None:
            metadata["page"] = chunk.page
        if chunk.heading:
            metadata["heading"] = chunk.heading
        plan.items.append(NewMemory(chunk.text, plan.namespace, target, str(path), metadata))


def batches(items: Sequence[NewMemory], size: int = BATCH) -> Iterator[Sequence[NewMemory]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ingest_local(memory: Memory, plan: IngestPlan, progress: Progress | None = None) -> IngestSummary:
    """Store a plan straight into a Memory (the worker's own process, tests, the bench)."""
    created = 0
    done = 0
    for batch in batches(plan.items):
        created += sum(1 for added in memory.add(batch) if added.created)
        done += len(batch)
        if progress:
            progress(done, len(plan.items))
    return plan.summary(created)
