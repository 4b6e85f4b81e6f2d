"""`pagi memory list|show|edit|pin|unpin|forget`: govern the memories of a running stack over its bus
(the memory worker's `api.memory` request/reply, as the edge's Mind view does).

    pagi memory list --namespace ops --source runbook --approved-by alice --pinned
    pagi memory show 6d1f...        the memory with its provenance and earlier texts
    pagi memory edit 6d1f... "the backup server is nas-07"     (re-embedded: a new id)
    pagi memory pin 6d1f...  /  pagi memory unpin 6d1f...
    pagi memory forget 6d1f...      deleted from the index; the deletion is recorded as an event

It connects as `pagi kb ingest` does (`--nats-url`, else `NATS_URL`, else `<data-dir>/pagi.env`), with
the operator's rights: no per-user check here. Each change is recorded with `--as` (default
`cli:<login name>`) as who made it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryApiReply, MemoryApiRequest, MemoryRecordOut
from pagi.bus import Bus, BusUnavailable
from pagi.timeline import parse_when

from .options import add_bus_options, bus_unreachable, connect_bus

REQUEST_TIMEOUT_S: Final = 15.0
PREVIEW_CHARS: Final = 80


class CommandError(Exception):
    """What the person who ran the command is told, on one line."""


def add_commands(commands: Any) -> None:
    memory = commands.add_parser("memory", help="browse, edit, pin and forget memories")
    verbs = memory.add_subparsers(dest="memory_command", required=True)

    listing = verbs.add_parser("list", help="a page of a namespace's memories, newest first")
    listing.add_argument("--namespace", default="default", help="the namespace (default: default)")
    listing.add_argument("--kb", help="only this knowledge base")
    listing.add_argument("--source", help="only memories whose source contains this (any case)")
    listing.add_argument("--since", type=_time, help="created at or after: unix seconds or an ISO 8601 date")
    listing.add_argument("--until", type=_time, help="created at or before: unix seconds or an ISO 8601 date")
    listing.add_argument("--approved-by", help="only memories this person approved")
    listing.add_argument("--pinned", action="store_true", help="only pinned memories")
    listing.add_argument("--offset", type=int, default=0, help="skip this many (paging)")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    listing.add_argument("--json", action="store_true", help="print the page as JSON")

    show = verbs.add_parser("show", help="one memory with its provenance and history")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print the memory as JSON")

    edit = verbs.add_parser("edit", help="give a memory new text (re-embedded under a new id)")
    edit.add_argument("id")
    edit.add_argument("text", help="the new text; - reads it from standard input")

    for verb, what in (("pin", "always in its twins' context"), ("unpin", "no longer pinned")):
        pin = verbs.add_parser(verb, help=f"mark a memory {what}")
        pin.add_argument("id")
    forget = verbs.add_parser("forget", help="delete a memory from the index (recorded as an event)")
    forget.add_argument("id")

    changes = (edit, forget, *(verbs.choices[v] for v in ("pin", "unpin")))
    for parser in changes:
        parser.add_argument("--as", dest="actor", default=None, help="who is recorded as making the change")
    for parser in (listing, show, *changes):
        add_bus_options(parser)
        parser.set_defaults(run=run)


def _time(raw: str) -> float:
    try:
        return parse_when(raw).timestamp()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _actor(args: argparse.Namespace) -> str:
    given: str | None = args.actor
    return given or f"cli:{getpass.getuser()}"


def request_for(args: argparse.Namespace) -> MemoryApiRequest:
    verb = args.memory_command
    if verb == "list":
        return MemoryApiRequest(
            op="browse", namespace=args.namespace, kb=args.kb, source=args.source, since=args.since,
            until=args.until, approved_by=args.approved_by, pinned_only=args.pinned, offset=args.offset,
            limit=args.limit,
        )  # fmt: skip
    if verb == "show":
        return MemoryApiRequest(op="get", id=args.id)
    if verb == "edit":
        text = (sys.stdin.read() if args.text == "-" else args.text).strip()
        if not text:
            raise ValueError("the new text is empty; to remove a memory, forget it")
        return MemoryApiRequest(op="update", id=args.id, text=text, actor=_actor(args))
    if verb in ("pin", "unpin"):
        return MemoryApiRequest(op="pin", id=args.id, pinned=verb == "pin", actor=_actor(args))
    return MemoryApiRequest(op="forget", id=args.id, actor=_actor(args))


async def ask(bus: Bus, request: MemoryApiRequest) -> MemoryApiReply:
    try:
        reply = await bus.request(MEMORY_API_SUBJECT, request, MemoryApiReply, timeout_s=REQUEST_TIMEOUT_S)
    except BusUnavailable as exc:
        raise CommandError(f"the memory worker did not answer ({exc}); is it running?") from None
    if not reply.ok:
        raise CommandError(reply.error or f"refused ({reply.error_kind})")
    return reply


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _line(memory: MemoryRecordOut) -> str:
    text = " ".join(memory.text.split())
    preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    pin = " [pinned]" if memory.metadata.get("pinned") is True else ""
    where = f"{memory.namespace}/{memory.kb}{pin}"
    return f"{memory.id}  {_when(memory.created_at)}  {where}  {memory.source or '-'}  {preview}"


def _details(memory: MemoryRecordOut) -> str:
    meta = dict(memory.metadata)
    history = meta.pop("history", None) or []
    lines = [
        f"id:        {memory.id}",
        f"namespace: {memory.namespace}/{memory.kb}",
        f"source:    {memory.source or '-'}",
        f"created:   {_when(memory.created_at)} UTC",
        *(f"{key + ':':<10} {value}" for key, value in sorted(meta.items())),
        "",
        memory.text,
    ]
    for n, earlier in enumerate(history, 1):
        when = _when(earlier.get("edited_at", 0.0)) if isinstance(earlier, dict) else "?"
        who = earlier.get("edited_by", "?") if isinstance(earlier, dict) else "?"
        text = earlier.get("text", "") if isinstance(earlier, dict) else str(earlier)
        lines += ["", f"--- earlier text {n} (replaced {when} UTC by {who}):", text]
    return "\n".join(lines)


def render(args: argparse.Namespace, reply: MemoryApiReply, out: TextIO) -> None:
    verb = args.memory_command
    if verb == "list":
        if args.json:
            page = {"memories": [m.model_dump(mode="json") for m in reply.memories], "next_offset": reply.next_offset}
            out.write(json.dumps(page, indent=2) + "\n")
            return
        for memory in reply.memories:
            out.write(_line(memory) + "\n")
        if not reply.memories:
            out.write("no memories match\n")
        if reply.next_offset is not None:
            out.write(f"more: --offset {reply.next_offset}\n")
        return
    if verb == "forget":
        out.write(f"forgotten: {args.id}\n")
        return
    assert reply.memory is not None
    if verb == "show":
        out.write((reply.memory.model_dump_json(indent=2) if args.json else _details(reply.memory)) + "\n")
    elif verb == "edit":
        out.write(f"edited: {args.id} is now {reply.memory.id} (version {reply.memory.metadata.get('version')})\n")
    else:
        out.write(f"{verb}ned: {reply.memory.id}\n")


async def memory_command(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    name = f"pagi memory {args.memory_command}"
    try:
        request = request_for(args)
    except ValueError as exc:  # pydantic: a limit out of range, a namespace too long
        err.write(f"{name}: {' '.join(str(exc).split())[:300]}\n")
        return 2
    try:
        bus = await connect_bus(args, "pagi-memory")
    except Exception as exc:
        err.write(f"{name}: {bus_unreachable(args, exc)}\n")
        return 1
    try:
        render(args, await ask(bus, request), out)
    except CommandError as exc:
        err.write(f"{name}: {exc}\n")
        return 1
    finally:
        await bus.close()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(memory_command(args))
