"""Errors the memory worker reports to callers; each message is meant for a person to read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class MemoryError_(Exception):
    """Base of every memory worker error (named so it does not shadow the builtin MemoryError)."""


class InvalidRequest(MemoryError_):
    """Bad input: empty or oversize query, bad namespace or KB name."""


class UnknownNamespace(InvalidRequest):
    def __init__(self, namespace: str, known: list[str]) -> None:
        listed = ", ".join(sorted(known)) or "none yet"
        super().__init__(f"unknown namespace {namespace!r} (known namespaces: {listed})")
        self.namespace = namespace
        self.known = known

    def told_to(self, may_see: Callable[[str], bool]) -> str:
        """The message, naming only the known namespaces the asker may use (another user's are not
        named: records.access)."""
        listed = ", ".join(sorted(n for n in self.known if may_see(n))) or "none yet"
        return f"unknown namespace {self.namespace!r} (known namespaces: {listed})"


def not_yours(namespace: str) -> str:
    """Why a query or store in another user's namespace is refused (records.access): says whose
    namespaces a session may use, never whether this one holds anything."""
    return f"memory namespace {namespace!r} is another user's: a session uses only its owner's and the shared ones"


class StoreUnavailable(MemoryError_):
    """The Qdrant server cannot be reached; the request may be retried."""


class StoreCorrupt(MemoryError_):
    """The embedded store on disk cannot be opened; nothing is deleted or recreated."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"the embedded memory store at {path} cannot be opened ({reason}); it was left untouched: "
            f"move it aside or restore a backup, then start again"
        )
        self.path = path


class StoreLocked(MemoryError_):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the embedded memory store at {path} is in use by another process; run one memory worker per "
            f"data dir, or set QDRANT_URL to share a Qdrant server between several"
        )
        self.path = path


class EmbeddingConfigError(MemoryError_):
    """The configured embedding model cannot be loaded."""
