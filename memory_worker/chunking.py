"""Split documents into chunks that respect their structure.

A chunk never spans two sections; each carries its heading path ("Runbook > Restore"), which
is also written at the top of its text so both the embedding and the keyword index see it.
Long sections are packed paragraph by paragraph, then line by line, then cut hard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

DEFAULT_MAX_CHARS: Final = 1200
_MD_HEADING: Final = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE: Final = re.compile(r"^\s*(```|~~~)")
_YAML_TOP_KEY: Final = re.compile(r"^([A-Za-z_][\w .-]*):(\s|$)")
_BLANK_LINES: Final = re.compile(r"\n\s*\n")
_TABLE_RULE: Final = re.compile(r"^\s*\|?\s*:?-{3,}")

Kind = Literal["markdown", "text", "json", "yaml"]


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    heading: str | None
    index: int


@dataclass(frozen=True, slots=True)
class _Section:
    heading: str | None
    body: str


def _table_rows(lines: list[str], max_chars: int) -> Iterator[str]:
    """A long Markdown table (a spreadsheet, a CSV) in groups of rows, each under its header row, so
    every chunk still says what its columns are."""
    header = "\n".join(lines[:2])
    budget = max(max_chars - len(header) - 1, max_chars // 2)
    group: list[str] = []
    size = 0
    for row in lines[2:]:
        row = row.strip()[:budget]
        if group and size + len(row) + 1 > budget:
            yield header + "\n" + "\n".join(group)
            group, size = [], 0
        group.append(row)
        size += len(row) + 1
    if group:
        yield header + "\n" + "\n".join(group)


def _is_table(lines: list[str]) -> bool:
    return len(lines) > 2 and lines[0].lstrip().startswith("|") and bool(_TABLE_RULE.match(lines[1]))


def _pieces(body: str, max_chars: int) -> Iterator[str]:
    """Paragraphs, each no longer than max_chars (tables by rows under their header, other text by
    lines, then hard)."""
    for para in _BLANK_LINES.split(body):
        para = para.strip()
        if not para:
            continue
        if len(para) <= max_chars:
            yield para
            continue
        if _is_table(para.splitlines()):
            yield from _table_rows(para.splitlines(), max_chars)
            continue
        for line in para.splitlines():
            line = line.strip()
            while len(line) > max_chars:
                cut = line.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                yield line[:cut].strip()
                line = line[cut:].strip()
            if line:
                yield line


def _pack(section: _Section, max_chars: int) -> Iterator[tuple[str | None, str]]:
    prefix = f"{section.heading}\n\n" if section.heading else ""
    budget = max(max_chars - len(prefix), max_chars // 2)
    current: list[str] = []
    size = 0
    for piece in _pieces(section.body, budget):
        if current and size + len(piece) + 2 > budget:
            yield section.heading, prefix + "\n\n".join(current)
            current, size = [], 0
        current.append(piece)
        size += len(piece) + 2
    if current:
        yield section.heading, prefix + "\n\n".join(current)


def _markdown_sections(text: str) -> Iterator[_Section]:
    path: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> _Section | None:
        heading = " > ".join(title for _, title in path) or None
        content = "\n".join(body).strip()
        body.clear()
        return _Section(heading, content) if content else None

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        section = flush()
        if section:
            yield section
        level = len(match.group(1))
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, match.group(2).strip()))
    section = flush()
    if section:
        yield section


def _yaml_sections(text: str) -> Iterator[_Section]:
    heading: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        match = _YAML_TOP_KEY.match(line)
        # Comments and blank lines before a key belong to it, not to a section of their own.
        if match and any(b.strip() and not b.lstrip().startswith("#") for b in body):
            yield _Section(heading, "\n".join(body).strip())
            body = []
        if match:
            heading = match.group(1).strip()
        body.append(line)
    if any(b.strip() for b in body):
        yield _Section(heading, "\n".join(body).strip())


def _flatten(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
    else:
        out.append(
            f"{path}: {json.dumps(value, ensure_ascii=False)}" if path else json.dumps(value, ensure_ascii=False)
        )


def _json_sections(text: str) -> Iterator[_Section]:
    try:
        data = json.loads(text)
    except ValueError:
        yield _Section(None, text)
        return
    if isinstance(data, dict):
        for key, value in data.items():
            lines: list[str] = []
            _flatten(value, str(key), lines)
            yield _Section(str(key), "\n".join(lines))
    else:
        lines = []
        _flatten(data, "", lines)
        yield _Section(None, "\n".join(lines))


def chunk_document(text: str, kind: Kind = "text", max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    if kind == "markdown":
        sections = _markdown_sections(text)
    elif kind == "yaml":
        sections = _yaml_sections(text)
    elif kind == "json":
        sections = _json_sections(text)
    else:
        sections = iter([_Section(None, text)])
    chunks: list[Chunk] = []
    for section in sections:
        for heading, chunk_text in _pack(section, max_chars):
            chunks.append(Chunk(text=chunk_text, heading=heading, index=len(chunks)))
    return chunks
