"""An uploaded file's bytes -> its text, section by section (a PDF page, a slide), or a clear refusal.

The content must be what the extension says (a `.docx` is a zip holding `word/document.xml`, a `.pdf`
starts with `%PDF-`, a text file is not a binary), and a zip's declared expansion is bounded before any
converter opens it: a misleading name or a zip bomb is refused, never half-read. PDFs are read page by
page with pypdf so every chunk knows its page; DOCX, PPTX, XLSX, CSV and HTML go through markitdown's
converters (the one matching the checked format, not its guessing front door); Markdown, text, JSON and
YAML are decoded here and chunked by their structure (`chunking.py`).
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Final

from .chunking import Kind
from .documents import Unreadable, decode

# The edge's upload limit (PAGI_MAX_UPLOAD_BYTES) is 50 MiB by default; the worker refuses above its own.
MAX_DOCUMENT_BYTES: Final = 50 * 1024 * 1024
# A zip (DOCX, PPTX, XLSX) may expand to at most this much in all, and at most RATIO times its size
# once it is past RATIO_FLOOR (office XML compresses 5-20x; a bomb compresses thousands of times).
MAX_UNZIPPED_BYTES: Final = 256 * 1024 * 1024
MAX_ZIP_RATIO: Final = 100
RATIO_FLOOR: Final = 16 * 1024 * 1024
MAX_ZIP_ENTRIES: Final = 10_000
MAX_PDF_PAGES: Final = 5_000

Progress = Callable[[int, int], None]

logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class Section:
    text: str
    kind: Kind
    page: int | None = None  # 1-based: a PDF page, a slide


@dataclass(slots=True)
class Converted:
    format: str
    sections: list[Section]
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def characters(self) -> int:
        return sum(len(s.text) for s in self.sections)


# extension -> (format, what it is called for a person)
FORMATS: Final[dict[str, tuple[str, str]]] = {
    ".pdf": ("pdf", "a PDF"),
    ".docx": ("docx", "a Word document"),
    ".pptx": ("pptx", "a PowerPoint presentation"),
    ".xlsx": ("xlsx", "an Excel workbook"),
    ".csv": ("csv", "a CSV file"),
    ".html": ("html", "a web page"),
    ".htm": ("html", "a web page"),
    ".md": ("markdown", "a Markdown file"),
    ".markdown": ("markdown", "a Markdown file"),
    ".txt": ("text", "a text file"),
    ".text": ("text", "a text file"),
    ".rst": ("text", "a text file"),
    ".log": ("text", "a text file"),
    ".json": ("json", "a JSON file"),
    ".yaml": ("yaml", "a YAML file"),
    ".yml": ("yaml", "a YAML file"),
}
# The member every Office Open XML file of that kind has.
_OOXML_PART: Final = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml", "xlsx": "xl/workbook.xml"}
_TEXT_KINDS: Final[dict[str, Kind]] = {"markdown": "markdown", "text": "text", "json": "json", "yaml": "yaml"}
# Content signatures, to say what a misnamed file really is.
_MAGIC: Final = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an encrypted or legacy Office file (.doc/.xls/.ppt)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program (ELF)"),
)
_SLIDE: Final = re.compile(r"^<!-- Slide number: (\d+) -->\s*$", re.MULTILINE)


def format_of(filename: str) -> str:
    """The format an upload's name says, or Unreadable for one we do not read."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in FORMATS:
        raise Unreadable(f"unsupported file type {suffix or '(none)'}: send one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix][0]


def _looks_like(data: bytes) -> str | None:
    head = data[:16]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return None


def _mislabelled(filename: str, expected: str, data: bytes) -> Unreadable:
    actual = _looks_like(data)
    found = f"its content is {actual}" if actual else "its content is not"
    return Unreadable(f"{filename} is named as {expected} but {found}: a misleading extension; nothing was read")


def check_zip(data: bytes, filename: str, required: str, expected: str) -> None:
    """An Office file is a zip with its main part, whose declared sizes are sane. zipfile never reads a
    member past its declared size (and checks the CRC), so bounding the declared sizes bounds what
    any converter can inflate."""
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise Unreadable(
            f"{filename} is password-protected or in the legacy binary format (.doc/.xls/.ppt): "
            "save it unprotected as .docx/.xlsx/.pptx"
        )
    if not data.startswith(b"PK\x03\x04"):
        raise _mislabelled(filename, expected, data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise Unreadable(f"{filename} is corrupted: not a readable zip ({exc})") from exc
    if len(entries) > MAX_ZIP_ENTRIES:
        raise Unreadable(f"{filename} holds {len(entries)} files; more than {MAX_ZIP_ENTRIES} looks like a zip bomb")
    total = sum(e.file_size for e in entries)
    if total > MAX_UNZIPPED_BYTES or (total > RATIO_FLOOR and total > MAX_ZIP_RATIO * max(len(data), 1)):
        raise Unreadable(
            f"{filename} would expand from {len(data):,} to {total:,} bytes: refused as a zip bomb "
            f"(limits {MAX_UNZIPPED_BYTES:,} bytes, {MAX_ZIP_RATIO}x past {RATIO_FLOOR:,})"
        )
    if required not in {e.filename for e in entries}:
        raise _mislabelled(filename, expected, data)


def _check_text(data: bytes, filename: str, expected: str) -> str:
    if _looks_like(data) is not None:
        raise _mislabelled(filename, expected, data)
    try:
        text, _ = decode(data)
    except Unreadable as exc:
        raise Unreadable(f"{filename} is named as {expected} but holds binary content: {exc}") from exc
    return text


def _pdf(data: bytes, filename: str, progress: Progress | None) -> Converted:
    from pypdf import PdfReader

    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise _mislabelled(filename, "a PDF", data)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable(f"{filename} is an encrypted PDF: remove its password and upload it again")
        count = len(reader.pages)
    except Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise Unreadable(f"{filename} is a corrupted PDF: {type(exc).__name__}: {exc}") from exc
    if count > MAX_PDF_PAGES:
        raise Unreadable(f"{filename} has {count} pages; the limit is {MAX_PDF_PAGES}")
    sections: list[Section] = []
    empty: list[int] = []
    for number in range(1, count + 1):
        try:
            text = (reader.pages[number - 1].extract_text() or "").strip()
        except Exception as exc:
            raise Unreadable(
                f"{filename} is a corrupted PDF: page {number} cannot be read ({type(exc).__name__}: {exc})"
            ) from exc
        if text:
            sections.append(Section(text, "text", number))
        else:
            empty.append(number)
        if progress:
            progress(number, count)
    if not sections:
        raise Unreadable(
            f"{filename} has no text layer: none of its {count} pages holds text (a scanned PDF?); "
            "run it through OCR first"
        )
    warnings = []
    if empty:
        listed = ", ".join(map(str, empty[:10])) + (", …" if len(empty) > 10 else "")
        warnings.append(f"{len(empty)} of {count} pages have no text (scanned?): {listed}")
    return Converted("pdf", sections, pages=count, warnings=warnings)


def _markitdown(fmt: str, data: bytes) -> str:
    from markitdown import StreamInfo
    from markitdown.converters import CsvConverter, DocxConverter, HtmlConverter, PptxConverter, XlsxConverter

    converters = {
        "docx": DocxConverter,
        "pptx": PptxConverter,
        "xlsx": XlsxConverter,
        "csv": CsvConverter,
        "html": HtmlConverter,
    }
    info = StreamInfo(extension=f".{fmt}", charset="utf-8")
    return converters[fmt]().convert(io.BytesIO(data), info).markdown or ""


def _slides(markdown: str) -> list[Section]:
    marks = list(_SLIDE.finditer(markdown))
    sections = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(markdown)
        text = markdown[mark.end() : end].strip()
        if text:
            sections.append(Section(text, "markdown", int(mark.group(1))))
    return sections


def convert(
    data: bytes, filename: str, progress: Progress | None = None, max_bytes: int = MAX_DOCUMENT_BYTES
) -> Converted:
    """The text of an uploaded file; `progress(done, total)` is called per page of a PDF."""
    fmt = format_of(filename)
    expected = FORMATS[PurePath(filename).suffix.lower()][1]
    if len(data) > max_bytes:
        raise Unreadable(f"{filename} is {len(data):,} bytes; the limit is {max_bytes:,}")
    if not data:
        raise Unreadable(f"{filename} is empty")
    if fmt == "pdf":
        return _pdf(data, filename, progress)
    if fmt in _OOXML_PART:
        check_zip(data, filename, _OOXML_PART[fmt], expected)
        try:
            markdown = _markitdown(fmt, data)
        except Exception as exc:  # the converters raise whatever their parser does on a damaged file
            raise Unreadable(f"{filename} is a corrupted {fmt.upper()} file: {type(exc).__name__}: {exc}") from exc
        if fmt == "pptx":
            slides = _slides(markdown)
            converted = Converted(fmt, slides, pages=len(_SLIDE.findall(markdown)))
        else:
            converted = Converted(fmt, [Section(markdown.strip(), "markdown")] if markdown.strip() else [])
    else:
        text = _check_text(data, filename, expected)
        if fmt in ("csv", "html"):
            try:
                markdown = _markitdown(fmt, text.encode("utf-8"))
            except Exception as exc:
                raise Unreadable(f"{filename} cannot be read as {expected}: {type(exc).__name__}: {exc}") from exc
            converted = Converted(fmt, [Section(markdown.strip(), "markdown")] if markdown.strip() else [])
        else:
            converted = Converted(fmt, [Section(text, _TEXT_KINDS[fmt])] if text.strip() else [])
    if not converted.sections:
        raise Unreadable(f"{filename} holds no text")
    if progress:
        progress(1, 1)
    return converted
