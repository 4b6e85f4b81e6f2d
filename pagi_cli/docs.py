"""`pagi docs add FILE... [--namespace NS] [--kb KB] [--session S]`: documents into memory over the bus,
as `POST /v1/documents` does for a person, as the operator; `pagi docs approve APPROVAL [--deny]
[--namespace NS] [--kb KB]` decides the approval a document job waits for (as the operator), with the
person's changes of where it goes, and prints how the job ended.

Each file is put in the `pagi_documents` object store by its digest (once: the same bytes are stored
once), then one job per file starts with `/ingest [NS[/KB]]` on `chat.in.<session>` with the document
attached (nothing is recorded in `pagi_uploads`: that is the edge's list of what a user may attach).
The command prints the document id and the job, then waits (`--wait`) for the approval the job asks
before anything is stored in memory, and says how to decide it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import mimetypes
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from bus_schemas import ApprovalDecision, ApprovalRequest, ChatIn, ChatOut, Envelope, new_id
from bus_schemas.approval import ApprovalChanges
from bus_schemas.documents import DOCUMENT_FORMATS, DocumentRef, document_id_of
from bus_schemas.streams import DOCUMENTS
from bus_schemas.subjects import APPROVE_DECISION, APPROVE_REQUEST, CHAT_IN, CHAT_OUT, TOKEN_RE, session_subject
from pagi.bus import Bus
from pagi.nats_users import OPERATOR
from records.approvals import ApprovalStore

from .options import add_bus_options, bus_unreachable, connect_bus

READ_BYTES = 1024 * 1024
KB_CHOICES = ("soul", "domain", "body", "heart", "mind")


def add_commands(commands: Any) -> None:
    """`pagi docs add`, under the `pagi` command's subparsers."""
    docs = commands.add_parser("docs", help="documents").add_subparsers(dest="docs_command", required=True)
    add = docs.add_parser("add", help="upload files for a twin to read; stored in memory once approved")
    add_arguments(add)
    add.set_defaults(run=run)
    approve = docs.add_parser("approve", help="decide the approval a document job waits for, as the operator")
    approve_arguments(approve)
    approve.set_defaults(run=run_approve)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE", help=f"files ({', '.join(DOCUMENT_FORMATS)})")
    parser.add_argument("--namespace", help="the memory namespace to store into (default: the twin's)")
    parser.add_argument("--kb", choices=KB_CHOICES, type=str.lower, help="the knowledge base (needs --namespace)")
    parser.add_argument("--session", help="the session to run the jobs in (default: a new one)")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for each job's approval request")
    add_bus_options(parser)


def approve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("approval_id", help="the approval's id (pagi docs add prints it)")
    parser.add_argument("--deny", action="store_true", help="deny it: nothing is stored")
    parser.add_argument("--namespace", help="store into this namespace instead of the one asked")
    parser.add_argument("--kb", choices=KB_CHOICES, type=str.lower, help="store into this knowledge base instead")
    parser.add_argument("--reason", help="why, kept with the decision")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the job to end")
    add_bus_options(parser)


@dataclass(frozen=True)
class Hashed:
    path: Path
    digest: str
    size: int


def hash_file(path: Path) -> Hashed:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as reader:
        while chunk := reader.read(READ_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return Hashed(path, digest.hexdigest(), size)


def check(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, before the bus is touched."""
    if args.kb and not args.namespace:
        return "--kb needs --namespace"
    if args.session is not None and not TOKEN_RE.fullmatch(args.session):
        return f"invalid session id {args.session!r}: use 1-64 characters of A-Z a-z 0-9 _ -"
    for path in args.files:
        if path.suffix.lower() not in DOCUMENT_FORMATS:
            return f"{path}: PAGI reads {', '.join(DOCUMENT_FORMATS)}"
        if not path.is_file():
            return f"{path}: no such file"
    return None


def ingest_message(namespace: str | None, kb: str | None) -> str:
    if namespace is None:
        return "/ingest"
    return f"/ingest {namespace}/{kb}" if kb else f"/ingest {namespace}"


async def put_document(bus: Bus, path: Path) -> tuple[DocumentRef, bool]:
    hashed = await asyncio.to_thread(hash_file, path)
    blobs = await bus.object_store(DOCUMENTS)
    present = await blobs.exists(hashed.digest)
    if not present:
        await blobs.put_file(hashed.digest, path)
    ref = DocumentRef(
        document_id=document_id_of(hashed.digest),
        digest=hashed.digest,
        filename=path.name[:255],
        size=hashed.size,
        content_type=mimetypes.guess_type(path.name)[0],
    )
    return ref, present


class JobWatch:
    """The first approval request or final answer of one job, seen on the session's subjects."""

    def __init__(self, job_id: str, answers_only: bool = False) -> None:
        self.job_id = job_id
        self.answers_only = answers_only
        self.outcome: asyncio.Future[Envelope[Any]] = asyncio.get_running_loop().create_future()

    async def __call__(self, event: Envelope[Any]) -> None:
        if event.job_id != self.job_id or self.outcome.done():
            return
        body = event.body
        if (isinstance(body, ApprovalRequest) and not self.answers_only) or (
            isinstance(body, ChatOut) and body.is_final and body.status != "awaiting_approval"
        ):
            self.outcome.set_result(event)


async def add_one(bus: Bus, args: argparse.Namespace, session_id: str, path: Path, out: TextIO) -> int:
    ref, present = await put_document(bus, path)
    out.write(f"{ref.document_id} {ref.filename} ({ref.size} bytes, {'already stored' if present else 'stored'})\n")
    job_id = new_id()
    watch = JobWatch(job_id)
    observers = [await bus.observe(session_subject(kind, session_id), watch) for kind in (APPROVE_REQUEST, CHAT_OUT)]
    try:
        await bus.nc.flush()
        event = Envelope[ChatIn](
            id=job_id,
            type=CHAT_IN,
            session_id=session_id,
            job_id=job_id,
            body=ChatIn(message=ingest_message(args.namespace, args.kb), attachments=[ref]),
        )
        await bus.publish(event)
        out.write(f"  job {job_id} in session {session_id}\n")
        try:
            outcome = await asyncio.wait_for(watch.outcome, args.wait)
        except TimeoutError:
            out.write(f"  still reading after {args.wait:g}s; follow it with `pagi tail --session {session_id}`\n")
            return 0
    finally:
        for observer in observers:
            await observer.stop()
    body = outcome.body
    if isinstance(body, ApprovalRequest):
        out.write(
            f"  waits for approval {body.approval_id}: {body.summary.splitlines()[0][:200] if body.summary else ''}\n"
            f"  decide it in the console, or: pagi docs approve {body.approval_id} [--deny] [--kb KB]\n"
        )
        return 0
    out.write(f"  {body.status}: {body.content[:500]}\n")
    return 0 if body.status == "completed" else 1


async def add_command(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    problem = check(args)
    if problem is not None:
        err.write(f"pagi docs add: {problem}\n")
        return 2
    try:
        bus = await connect_bus(args, "pagi-docs-add")
    except Exception as exc:
        err.write(f"pagi docs add: {bus_unreachable(args, exc)}\n")
        return 1
    session_id = args.session or f"doc-{new_id()[:12]}"
    code = 0
    try:
        for path in args.files:
            code = max(code, await add_one(bus, args, session_id, path, out))
    finally:
        await bus.close()
    return code


def run(args: argparse.Namespace) -> int:
    return asyncio.run(add_command(args))


def changes_of(args: argparse.Namespace) -> ApprovalChanges | None:
    if args.namespace is None and args.kb is None:
        return None
    return ApprovalChanges(namespace=args.namespace, kb=args.kb)


async def approve_command(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        changes = changes_of(args)
    except ValidationError as exc:
        err.write(f"pagi docs approve: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}\n")
        return 2
    if changes is not None and args.deny:
        err.write("pagi docs approve: --namespace/--kb change what is approved; a denial changes nothing\n")
        return 2
    try:
        bus = await connect_bus(args, "pagi-docs-approve")
    except Exception as exc:
        err.write(f"pagi docs approve: {bus_unreachable(args, exc)}\n")
        return 1
    try:
        return await decide(bus, args, changes, out, err)
    finally:
        await bus.close()


async def decide(bus: Bus, args: argparse.Namespace, changes: ApprovalChanges | None, out: TextIO, err: TextIO) -> int:
    record = (
        await (await ApprovalStore.open(bus)).find(args.approval_id) if TOKEN_RE.fullmatch(args.approval_id) else None
    )
    if record is None:
        err.write(f"pagi docs approve: no approval {args.approval_id[:64]}\n")
        return 1
    if record.state != "pending":
        err.write(f"pagi docs approve: approval {record.approval_id} was already {record.state}\n")
        return 1
    watch = JobWatch(record.job_id, answers_only=True)
    observer = await bus.observe(session_subject(CHAT_OUT, record.session_id), watch)
    try:
        await bus.nc.flush()
        decision = ApprovalDecision(
            approval_id=record.approval_id,
            approved=not args.deny,
            decided_by=OPERATOR,
            reason=args.reason,
            changes=changes,
        )
        await bus.publish(
            Envelope[ApprovalDecision](
                type=APPROVE_DECISION,
                session_id=record.session_id,
                job_id=record.job_id,
                twin_id=record.twin_id,
                body=decision,
            )
        )
        out.write(f"{'denied' if args.deny else 'approved'} {record.approval_id} ({record.summary[:200]})\n")
        try:
            outcome = await asyncio.wait_for(watch.outcome, args.wait)
        except TimeoutError:
            out.write(f"  the job goes on; follow it with `pagi tail --session {record.session_id}`\n")
            return 0
    finally:
        await observer.stop()
    body = outcome.body
    out.write(f"  {body.status}: {body.content[:500]}\n")
    return 0 if body.status == "completed" else 1


def run_approve(args: argparse.Namespace) -> int:
    return asyncio.run(approve_command(args))
