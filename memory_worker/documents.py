"""Read one knowledge-base file into text, whatever its encoding; refuse binaries clearly."""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .chunking import Kind

MAX_FILE_BYTES: Final = 20 * 1024 * 1024
KINDS: Final[dict[str, Kind]] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".log": "text",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".pdf": "text",
}
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

logging.getLogger("pypdf").setLevel(logging.ERROR)


class Unreadable(Exception):
    """This file cannot be ingested; the message says why."""


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    kind: Kind
    text: str
    encoding: str


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding used: a BOM wins, then UTF-8, then Windows-1252 (never fails on text)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding), encoding
    if b"\x00" in data[:8192]:
        raise Unreadable("binary content (NUL bytes)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise Unreadable("encrypted PDF")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise Unreadable(f"unreadable PDF: {exc}") from exc
    text = "\n\n".join(p for p in pages if p)
    if not text:
        raise Unreadable("PDF has no extractable text (scanned images?)")
    return text


def read_document(path: Path) -> Document:
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise Unreadable(f"unsupported file type {path.suffix or '(none)'}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Unreadable(f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
        if path.suffix.lower() == ".pdf":
            return Document(path, kind, _read_pdf(path), "pdf")
        text, encoding = decode(path.read_bytes())
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from exc
    return Document(path, kind, text, encoding)
