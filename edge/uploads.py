"""Documents a person hands the edge: the one path for `POST /v1/documents` and for a file sent inside
a chat message (the OpenAI door's `file` content part, A2A's FilePart).

A file is spooled to a temporary file (never whole in memory) while its SHA-256 is computed, refused
with 413 as soon as it passes PAGI_MAX_UPLOAD_BYTES, then put in the `pagi_documents` object store
under its digest (unless the same bytes are there already: stored once) and recorded for its uploader
in `pagi_uploads` (`<uploader>.<document_id>` = the DocumentRef). A chat message attaches only its
sender's own uploads (`owned_documents`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from aiohttp import web
from pydantic import ValidationError

from bus_schemas.documents import DOCUMENT_FORMATS, MAX_ATTACHMENTS, DocumentRef, document_id_of
from bus_schemas.streams import DOCUMENTS, UPLOADS
from pagi.bus import TRANSIENT_ERRORS
from records.access import Caller

from .appkeys import BUS, SETTINGS
from .doors.errors import DoorRefused
from .front.auth import acting_user

# Uploader names that are KV key tokens as they are; any other name is keyed by its digest.
KEY_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{1,100}")
DOCUMENT_ID: Final = re.compile(r"doc-[0-9a-f]{32}")
CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
# The text of a chat message that is only files (they are attached to it).
ATTACHED_ONLY: Final = "(files attached)"


@dataclass(frozen=True)
class Spooled:
    """A file on disk, with what was computed while it was written."""

    path: Path
    digest: str
    size: int


def accepted_formats() -> str:
    return ", ".join(DOCUMENT_FORMATS)


def clean_filename(given: str | None) -> str:
    """The file's own name (no folders, no control characters), if its extension is one PAGI reads;
    else a 400 naming the accepted ones."""
    name = CONTROL.sub("", PurePosixPath((given or "").replace("\\", "/")).name).strip()[:255]
    if not name:
        raise DoorRefused(400, "the file has no name: send it with a filename (e.g. report.pdf)")
    extension = PurePosixPath(name).suffix.lower()
    if extension not in DOCUMENT_FORMATS:
        shown = repr(extension) if extension else "no extension"
        raise DoorRefused(400, f"{name[:80]!r} has {shown}: PAGI reads {accepted_formats()}")
    return name


def clean_content_type(given: str | None) -> str | None:
    value = CONTROL.sub("", given or "").strip()[:200]
    return value or None


class Spool:
    """A temporary file the bytes go into; the limit is checked on every write."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        handle, name = tempfile.mkstemp(prefix="pagi-upload-")
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise DoorRefused(413, f"the file is larger than {self.limit} bytes (PAGI_MAX_UPLOAD_BYTES)")
        self._hash.update(chunk)
        self._file.write(chunk)

    def done(self) -> Spooled:
        self._file.close()
        return Spooled(self.path, self._hash.hexdigest(), self.size)

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def spooling(limit: int) -> Iterator[Spool]:
    """A spool that is removed when the block ends, stored or not."""
    spool = Spool(limit)
    try:
        yield spool
    finally:
        spool.discard()


async def spool_stream(spool: Spool, chunks: AsyncIterator[bytes]) -> Spooled:
    async for chunk in chunks:
        spool.write(chunk)
    return spool.done()


def uploader_of(request: web.Request, who: Caller | None) -> str:
    """Whose uploads a request makes and attaches: the session caller (edge.chat_in.session_caller);
    in development mode with nobody named, the one person (`acting_user`'s default)."""
    return who.user_id if who is not None else acting_user(request, None)


def upload_key(uploader: str, document_id: str) -> str:
    owner = uploader if KEY_TOKEN.fullmatch(uploader) else "h-" + hashlib.sha256(uploader.encode()).hexdigest()[:40]
    return f"{owner}.{document_id}"


async def store_document(
    app: web.Application, uploader: str, spooled: Spooled, filename: str, content_type: str | None
) -> tuple[DocumentRef, bool]:
    """Put the spooled file in the object store (once per digest) and record it as `uploader`'s.
    `duplicate`: the uploader had sent these bytes before. Whether anyone else did is not said, so an
    upload cannot tell who holds which file. Raises DoorRefused 503 when the bus is away."""
    ref = DocumentRef(
        document_id=document_id_of(spooled.digest),
        digest=spooled.digest,
        filename=filename,
        size=spooled.size,
        content_type=content_type,
    )
    bus = app[BUS]
    key = upload_key(uploader, ref.document_id)
    try:
        blobs = await bus.object_store(DOCUMENTS)
        if not await blobs.exists(spooled.digest):
            await blobs.put_file(spooled.digest, spooled.path)
        uploads = await bus.kv(UPLOADS)
        duplicate = await uploads.get(key) is not None
        await uploads.put(key, ref.model_dump_json().encode())
    except TRANSIENT_ERRORS:
        raise DoorRefused(503, "cannot store the document now (the bus is away); retry") from None
    return ref, duplicate


async def store_bytes(
    app: web.Application, uploader: str, data: bytes, filename: str, content_type: str | None
) -> tuple[DocumentRef, bool]:
    """A file that came whole inside a request (a chat message's file part): the same limit and store."""
    with spooling(app[SETTINGS].max_upload_bytes) as spool:
        spool.write(data)
        return await store_document(app, uploader, spool.done(), filename, content_type)


async def owned_documents(app: web.Application, uploader: str, document_ids: Iterable[str]) -> list[DocumentRef]:
    """The uploader's own documents by id, in order; a 400 naming the first id that is not one of theirs
    (another user's upload is answered exactly as one that does not exist)."""
    ids = list(dict.fromkeys(document_ids))
    if len(ids) > MAX_ATTACHMENTS:
        raise DoorRefused(400, f"at most {MAX_ATTACHMENTS} attachments in one message")
    if not ids:
        return []
    try:
        uploads = await app[BUS].kv(UPLOADS)
        found: list[DocumentRef] = []
        for document_id in ids:
            entry = await uploads.get(upload_key(uploader, document_id)) if DOCUMENT_ID.fullmatch(document_id) else None
            if entry is None:
                raise DoorRefused(
                    400,
                    f"no document {document_id[:40]!r} of yours: attach documents you uploaded (POST /v1/documents)",
                )
            try:
                found.append(DocumentRef.model_validate_json(entry[0]))
            except ValidationError:
                raise DoorRefused(400, f"the record of document {document_id} is unreadable; upload it again") from None
    except TRANSIENT_ERRORS:
        raise DoorRefused(503, "cannot read your documents now (the bus is away); retry") from None
    return found
