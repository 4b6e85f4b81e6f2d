"""Files in an OpenAI chat request: a user message's `file` content part
(`{"type": "file", "file": {"file_data": "data:<type>;base64,<bytes>", "filename": "report.pdf"}}`)
is uploaded as `POST /v1/documents` uploads one (edge/uploads.py) and attached to the message; a
`file_id` names a document the caller uploaded before (its PAGI id, `doc-...`).

Only the last message's files are attached (it is the new input); earlier messages' files were
attached when they were sent. The part's `file` object is read from the request as sent, since the
request model keeps only what every part has (bus_schemas.openai_compat.ContentPart).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from bus_schemas.documents import MAX_ATTACHMENTS, DocumentRef

from ..uploads import clean_content_type, clean_filename, owned_documents, store_bytes
from .errors import DoorRefused
from .openai_conversation import BadRequest

FILE_PART: Final = "file"
DATA_URL: Final = re.compile(r"data:([^;,]{0,200})(?:;[^;,]{0,100})*;base64,", re.ASCII)


@dataclass(frozen=True)
class FilePart:
    param: str  # where it was in the request, for the error
    filename: str | None
    data: str | None
    file_id: str | None


def file_parts(raw: dict[str, Any]) -> list[FilePart]:
    """The `file` parts of the last message, as sent; a 400 naming a part that is not a usable file."""
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return []
    number = len(messages) - 1
    content = messages[-1].get("content")
    if not isinstance(content, list):
        return []
    found: list[FilePart] = []
    for part_no, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != FILE_PART:
            continue
        param = f"messages.{number}.content.{part_no}.file"
        file = part.get("file")
        if not isinstance(file, dict):
            raise BadRequest("a file part needs its `file` object (file_data and filename, or file_id)", param)
        filename, data, file_id = file.get("filename"), file.get("file_data"), file.get("file_id")
        if not all(v is None or isinstance(v, str) for v in (filename, data, file_id)):
            raise BadRequest("file_data, filename and file_id are strings", param)
        if (data is None) == (file_id is None):
            raise BadRequest("a file part carries file_data (with its filename) or a file_id, one of the two", param)
        found.append(FilePart(param, filename, data, file_id))
    if len(found) > MAX_ATTACHMENTS:
        raise BadRequest(f"at most {MAX_ATTACHMENTS} files in one message", f"messages.{number}.content")
    return found


def decode(part: FilePart) -> tuple[bytes, str | None]:
    """The part's bytes and the content type its data URL names."""
    text = part.data or ""
    content_type = None
    match = DATA_URL.match(text)
    if match is not None:
        content_type = match.group(1) or None
        text = text[match.end() :]
    elif text.startswith("data:"):
        raise BadRequest("file_data must be base64: data:<type>;base64,<bytes>", part.param)
    try:
        return base64.b64decode(text, validate=True), content_type
    except (binascii.Error, ValueError):
        raise BadRequest("file_data is not valid base64", part.param) from None


def check(parts: list[FilePart]) -> None:
    """What can be refused before anything runs: names and encodings (no upload yet)."""
    for part in parts:
        if part.data is not None:
            try:
                clean_filename(part.filename)
            except DoorRefused as refused:
                raise BadRequest(refused.message, part.param) from None
            decode(part)


async def attach(app: web.Application, uploader: str, parts: list[FilePart]) -> list[DocumentRef]:
    """Upload the parts' files as `uploader`'s and return them, with the named earlier uploads."""
    refs: list[DocumentRef] = []
    for part in parts:
        if part.file_id is not None:
            refs += await owned_documents(app, uploader, [part.file_id])
            continue
        data, content_type = decode(part)
        ref, _ = await store_bytes(app, uploader, data, clean_filename(part.filename), clean_content_type(content_type))
        refs.append(ref)
    return list({ref.document_id: ref for ref in refs}.values())
