"""POST /v1/documents: a person uploads a file for a twin to read and, once approved, remember.

Multipart: `file` (required), `namespace` (a member's own when none is named), `kb`, `session_id`
(optional). The file is spooled and
stored by edge/uploads.py; then a job starts in the session (the named one if the caller may use it,
else a new one of theirs) with the message `/ingest [NAMESPACE[/KB]]` and the document attached, as
every door starts one (edge/doors/job_run.py). The answer waits (PAGI_UPLOAD_WAIT_S) for the job to
read the file and ask its approval, or to fail reading it:

    201 {"document": DocumentRef, "duplicate", "session_id", "job_id", "approval_id",
         "status": "awaiting_approval" | "reading" | "failed", "error"?}

Refused before anything is stored: 400 (not multipart, no file, a format PAGI does not read, a bad
field), 403/404 (a session or namespace the caller may not use), 413 (over PAGI_MAX_UPLOAD_BYTES).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import ValidationError

from bus_schemas import new_id
from bus_schemas.approval import ApprovalChanges
from bus_schemas.documents import DocumentRef
from bus_schemas.subjects import TOKEN_RE
from pagi.bus import TRANSIENT_ERRORS
from records.access import Denied, check_namespace_write, user_namespace

from ..appkeys import OWNERS, SETTINGS
from ..chat_in import may_enter, recorded_as, session_caller
from ..doors.errors import DoorRefused
from ..doors.job_run import Finished, WaitingApproval, start_job
from ..front.auth import acting_user, caller
from ..front.observability import recorded_trace_label
from ..uploads import Spool, Spooled, clean_content_type, clean_filename, spooling, store_document, uploader_of
from ..validation import describe, error

DOOR = "documents"
PATH: Final = "/v1/documents"
FIELDS: Final = ("namespace", "kb", "session_id")
MAX_FIELD_BYTES: Final = 256
READ_BYTES: Final = 256 * 1024


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    spooled: Spooled | None = None
    filename: str = ""
    content_type: str | None = None


def register(app: web.Application) -> None:
    app.router.add_post(PATH, post_document)


async def post_document(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    try:
        with spooling(settings.max_upload_bytes) as spool:
            upload = await _read(request, spool)
            return await _accept(request, upload)
    except DoorRefused as refused:
        return error(refused.status, refused.message)


async def _read(request: web.Request, spool: Spool) -> Upload:
    """The form's parts, the file spooled as it arrives. 400 for anything that is not this form."""
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, KeyError):
        raise DoorRefused(400, "send the document as multipart/form-data with a `file` part") from None
    upload = Upload()
    try:
        while True:
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, MultipartReader):
                raise DoorRefused(400, "a nested multipart part is not a field of this form")
            await _read_part(part, upload, spool)
    except HttpProcessingError as exc:  # a part's headers that are not headers
        raise DoorRefused(400, f"malformed multipart body: {exc.message[:200]}") from None
    except (ValueError, AssertionError, RuntimeError) as exc:
        raise DoorRefused(400, f"malformed multipart body: {str(exc)[:200] or type(exc).__name__}") from None
    if upload.spooled is None:
        raise DoorRefused(400, "no `file` part: send the document as the form's `file` field")
    return upload


async def _read_part(part: BodyPartReader, upload: Upload, spool: Spool) -> None:
    name = part.name
    if name == "file":
        if upload.spooled is not None:
            raise DoorRefused(400, "one file per upload: send each document in its own request")
        upload.filename = clean_filename(part.filename)  # before its bytes: a wrong format reads nothing
        upload.content_type = clean_content_type(part.headers.get("Content-Type"))
        while chunk := await part.read_chunk(READ_BYTES):
            spool.write(chunk)
        upload.spooled = spool.done()
        return
    if name not in FIELDS:
        raise DoorRefused(400, f"unknown field {str(name)[:40]!r}: the form takes file, {', '.join(FIELDS)}")
    if name in upload.fields:
        raise DoorRefused(400, f"field {name} given twice")
    value = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES + 1):
        value += chunk
        if len(value) > MAX_FIELD_BYTES:
            raise DoorRefused(400, f"field {name} is longer than {MAX_FIELD_BYTES} bytes")
    try:
        text = value.decode().strip()
    except UnicodeDecodeError:
        raise DoorRefused(400, f"field {name} is not UTF-8 text") from None
    if text:
        upload.fields[name] = text


def ingest_message(namespace: str | None, kb: str | None) -> str:
    """The planner's document command: `/ingest`, `/ingest NS` or `/ingest NS/KB`."""
    if namespace is None:
        return "/ingest"
    return f"/ingest {namespace}/{kb}" if kb else f"/ingest {namespace}"


def _target(request: web.Request, fields: dict[str, str]) -> tuple[str | None, str | None]:
    """Where the document would go, checked: the caller must be allowed to write the namespace. A
    member who names none gets their own (the twin's may be shared, which only admins write); an
    admin's goes where the twin keeps its memories."""
    namespace, kb = fields.get("namespace"), fields.get("kb")
    who = caller(request)
    if namespace is None and not who.is_admin:
        namespace = user_namespace(who.user_id)
    try:
        ApprovalChanges(namespace=namespace, kb=kb)  # validated here: the same rules as an approval's
    except ValidationError as exc:
        raise DoorRefused(400, f"invalid target: {describe(exc)}") from None
    if kb is not None and namespace is None:
        raise DoorRefused(400, "a kb needs its namespace: send namespace too")
    if namespace is not None:
        try:
            check_namespace_write(who, namespace)
        except Denied as denied:
            raise DoorRefused(denied.status, str(denied)) from None
    return namespace, kb


async def _accept(request: web.Request, upload: Upload) -> web.Response:
    namespace, kb = _target(request, upload.fields)
    who = session_caller(request, None)
    session_id = upload.fields.get("session_id") or f"doc-{new_id()[:12]}"
    if not TOKEN_RE.fullmatch(session_id):
        raise DoorRefused(400, f"invalid session id {session_id[:64]!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    try:
        if who is not None and not await may_enter(request.app[OWNERS], who, session_id):
            raise DoorRefused(403, f"session {session_id} belongs to another user")
    except TRANSIENT_ERRORS:
        raise DoorRefused(503, "cannot check the session now (the bus is away); retry") from None
    assert upload.spooled is not None
    ref, duplicate = await store_document(
        request.app, uploader_of(request, who), upload.spooled, upload.filename, upload.content_type
    )
    answer = await _start(request, session_id, ingest_message(namespace, kb), ref)
    return web.json_response({"document": ref.model_dump(mode="json"), "duplicate": duplicate, **answer}, status=201)


async def _start(request: web.Request, session_id: str, message: str, ref: DocumentRef) -> dict[str, Any]:
    """Start the document's job and wait, bounded, for its question or its failure."""
    who = session_caller(request, None)
    wait_s = request.app[SETTINGS].upload_wait_s
    answer: dict[str, Any] = {"session_id": session_id, "approval_id": None, "status": "reading"}
    run = await start_job(
        request.app,
        who,
        door=DOOR,
        session_id=session_id,
        message=message,
        twin_id=None,
        recorded_as=recorded_as(request, who) if who is not None else acting_user(request, None),
        trace_label=recorded_trace_label(request),
        check_twin=False,
        attachments=[ref],
    )
    answer["job_id"] = run.job_id
    async with run:
        try:
            async with asyncio.timeout(wait_s):
                async for event in run.events(timeout_s=wait_s):
                    if isinstance(event, WaitingApproval):
                        return {**answer, "approval_id": event.approval_id, "status": "awaiting_approval"}
                    if isinstance(event, Finished):
                        # Ended without asking to store it (unreadable, refused, cancelled): nothing
                        # was stored, and the job's answer says why.
                        return {**answer, "status": "failed", "error": event.answer.content[:4000]}
        except (TimeoutError, DoorRefused):
            pass  # still reading: the job goes on, and its approval will come on the session's events
    return answer
