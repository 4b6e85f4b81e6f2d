"""The memory over HTTP: search (the right sidebar's Neural Memory Search), one memory (for
`show_memory_page`), namespace stats (the Mind tab), a session's history (the Heart tab), global
search over every message and job log, "Save to Memory", and governance (the Mind view): a page of
memories with filters, edit and pin (`PATCH`), forget (`DELETE`, recorded as a `memory.changed` event
naming the caller).

Reads and deletes go to the memory worker's request/reply API (`api.memory`), so a search per
keystroke never lands in the events stream. Saving is an explicit human action: it publishes
`memory.store.<session>` like any other memory write and waits (bounded) for the worker's answer.

Every route answers only what the caller may see (`records.access`): memories of the namespaces
they may read (a user's own `user-<id>`, and the shared ones), saved and deleted only where they may
write; history and global search only from their own sessions (an admin's: all, recorded as
`read_access` says).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from bus_schemas import ChatIn, ChatOut, Envelope, new_id
from bus_schemas.memory import (
    MAX_SESSION_IDS,
    MEMORY_API_SUBJECT,
    MemoryApiReply,
    MemoryApiRequest,
    MemoryRecordOut,
    MemoryResult,
    MemoryStore,
)
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import MEMORY_STORE, TOKEN_RE
from bus_schemas.web import MemoryPatch, SaveMemoryRequest
from pagi.bus import BusUnavailable, ReplyTimeout, StreamReplies
from pagi.timeline import parse_when
from records.access import (
    Hidden,
    check_namespace_read,
    check_namespace_write,
    check_session,
    may_read_namespace,
    namespace_owner,
    reads_as_admin,
)

from ..appkeys import BUS, HUB, OWNERS
from ..front.auth import caller
from ..validation import bad_request, details, read_model
from .read_access import keys_mode, reader_of_session, visible_sessions

log = logging.getLogger("edge.access")
API_TIMEOUT_S: Final = 5.0
SAVE_TIMEOUT_S: Final = 15.0
# The worker's error kinds, as HTTP statuses.
ERROR_STATUS: Final = {"invalid": 400, "unknown_namespace": 404, "not_found": 404, "unavailable": 503}
# A memory's id is a UUID (memory_worker.records.memory_id); anything else is answered here, at once,
# rather than asked of the worker.
MEMORY_ID_RE: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# A browse answers at most this many memories a page.
MAX_PAGE: Final = 200
TRUE_WORDS: Final = ("1", "true", "yes")
FALSE_WORDS: Final = ("0", "false", "no")


def _api_request(**fields: Any) -> MemoryApiRequest:
    """The worker's request, validated by its schema here (a `kb` over 32 characters, say), so what
    the schema refuses is a 400 naming the field, never a 500."""
    try:
        return MemoryApiRequest(**fields)
    except ValidationError as exc:
        raise bad_request("invalid memory request", details(exc)) from None


def _memory_id(request: web.Request) -> str:
    raw = request.match_info["memory_id"]
    if not MEMORY_ID_RE.match(raw):
        raise bad_request("a memory id is a UUID (8-4-4-4-12 hexadecimal digits)")
    return str(uuid.UUID(raw))


async def ask_memory(request: web.Request, query: MemoryApiRequest) -> MemoryApiReply | web.Response:
    try:
        reply = await request.app[BUS].request(MEMORY_API_SUBJECT, query, MemoryApiReply, timeout_s=API_TIMEOUT_S)
    except BusUnavailable as exc:
        return web.json_response({"error": f"memory worker unavailable: {exc}"}, status=503)
    if not reply.ok:
        status = ERROR_STATUS.get(reply.error_kind or "", 502)
        return web.json_response(
            {"error": reply.error or "memory worker refused", "kind": reply.error_kind}, status=status
        )
    return reply


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be a whole number") from exc
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}")
    return value


def _namespace(request: web.Request) -> str:
    namespace = request.query.get("namespace", "default")
    if not TOKEN_RE.match(namespace):
        raise bad_request(f"invalid namespace {namespace!r}")
    return namespace


async def search_memory(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    if not q:
        raise bad_request("q (the search text) is required")
    kb = request.query.get("kb") or None
    namespace = _namespace(request)
    query = _api_request(op="search", query=q[:4000], namespace=namespace, kb=kb, k=_int(request, "k", 5, 1, 100))
    check_namespace_read_logged(request, namespace, "searched")
    reply = await ask_memory(request, query)
    if isinstance(reply, web.Response):
        return reply
    return web.json_response({"results": [hit.model_dump(mode="json") for hit in reply.results]})


def check_namespace_read_logged(request: web.Request, namespace: str, what: str) -> None:
    who = caller(request)
    check_namespace_read(who, namespace)
    if reads_as_admin(who, namespace_owner(namespace)) and keys_mode(request):
        log.info("admin %s %s memory namespace %s", who.user_id, what, namespace)


async def _readable_memory(request: web.Request, memory_id: str) -> MemoryRecordOut | web.Response:
    """The memory, if the caller may read its namespace: another's is answered as if there were none."""
    reply = await ask_memory(request, MemoryApiRequest(op="get", id=memory_id))
    if isinstance(reply, web.Response):
        return reply
    if reply.memory is None:
        return web.json_response({"error": f"no memory {memory_id}"}, status=404)
    try:
        check_namespace_read_logged(request, reply.memory.namespace, f"read memory {memory_id} of")
    except Hidden:
        return web.json_response({"error": f"no memory {memory_id}"}, status=404)
    return reply.memory


async def get_memory(request: web.Request) -> web.Response:
    found = await _readable_memory(request, _memory_id(request))
    if isinstance(found, web.Response):
        return found
    return web.json_response(found.model_dump(mode="json"))


async def delete_memory(request: web.Request) -> web.Response:
    memory_id = _memory_id(request)
    # A memory's id derives from its namespace (memory_worker.records.memory_id), so the namespace
    # checked here is the one the delete removes from.
    found = await _readable_memory(request, memory_id)
    if isinstance(found, web.Response):
        return found
    who = caller(request)
    check_namespace_write(who, found.namespace)
    # Forget: answered once the delete is durable, and recorded as a memory.changed event.
    reply = await ask_memory(request, MemoryApiRequest(op="forget", id=memory_id, actor=who.as_recorded))
    if isinstance(reply, web.Response):
        return reply
    return web.Response(status=204)


def _time(request: web.Request, name: str) -> float | None:
    """A unix time in seconds, or an ISO 8601 date or time (`2026-12-01`, `2026-12-01T10:00:00+00:00`)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_when(raw).timestamp()
    except ValueError as exc:
        raise bad_request(f"{name}: {exc}") from None


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").lower()
    if raw in ("", *FALSE_WORDS):
        return False
    if raw in TRUE_WORDS:
        return True
    raise bad_request(f"{name} must be true or false")


async def browse_memory(request: web.Request) -> web.Response:
    namespace = _namespace(request)
    query = _api_request(
        op="browse",
        namespace=namespace,
        kb=request.query.get("kb") or None,
        source=request.query.get("source") or None,
        since=_time(request, "since"),
        until=_time(request, "until"),
        approved_by=request.query.get("approved_by") or None,
        pinned_only=_flag(request, "pinned"),
        offset=_int(request, "offset", 0, 0, 1_000_000),
        limit=_int(request, "limit", 50, 1, MAX_PAGE),
    )
    check_namespace_read_logged(request, namespace, "browsed")
    reply = await ask_memory(request, query)
    if isinstance(reply, web.Response):
        return reply
    return web.json_response(
        {"memories": [m.model_dump(mode="json") for m in reply.memories], "next_offset": reply.next_offset}
    )


async def patch_memory(request: web.Request) -> web.Response:
    memory_id = _memory_id(request)
    # The body is read (and refused when malformed) before the memory is looked up.
    body = await read_model(request, MemoryPatch)
    found = await _readable_memory(request, memory_id)
    if isinstance(found, web.Response):
        return found
    who = caller(request)
    check_namespace_write(who, found.namespace)
    change = MemoryApiRequest(op="update", id=memory_id, text=body.text, pinned=body.pinned, actor=who.as_recorded)
    reply = await ask_memory(request, change)
    if isinstance(reply, web.Response):
        return reply
    assert reply.memory is not None
    return web.json_response({"memory": reply.memory.model_dump(mode="json")})


async def namespaces(request: web.Request) -> web.Response:
    reply = await ask_memory(request, MemoryApiRequest(op="namespaces"))
    if isinstance(reply, web.Response):
        return reply
    who = caller(request)
    stats = {name: kbs for name, kbs in (reply.namespaces or {}).items() if may_read_namespace(who, name)}
    return web.json_response({"namespaces": stats})


async def global_search(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    if len(q) < 2:
        raise bad_request("q must be at least 2 characters")
    kind = request.query.get("kind")
    if kind not in (None, "message", "log"):
        raise bad_request("kind must be message or log")
    session = request.query.get("session")
    if session is not None and not TOKEN_RE.match(session):
        raise bad_request(f"invalid session id {session!r}")
    if session is not None:
        await reader_of_session(request, session, "global search hits")
        allowed = None
    else:
        allowed = await visible_sessions(request, caller(request), "global search")
    if allowed is not None and not allowed:
        return web.json_response({"results": []})
    query = _api_request(
        op="search_events",
        query=q[:4000],
        kind=kind,
        session_id=session,
        session_ids=None if allowed is None else sorted(allowed)[:MAX_SESSION_IDS],
        k=_int(request, "k", 20, 1, 100),
    )
    reply = await ask_memory(request, query)
    if isinstance(reply, web.Response):
        return reply
    return web.json_response({"results": [hit.model_dump(mode="json") for hit in reply.events]})


async def session_history(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    if not TOKEN_RE.match(session_id):
        raise bad_request(f"invalid session id {session_id!r}")
    await reader_of_session(request, session_id, "the history")
    return web.json_response({"session_id": session_id, "messages": await history_messages(request.app, session_id)})


async def history_messages(app: web.Application, session_id: str) -> list[dict[str, Any]]:
    """A session's conversation: each person's message and each final answer, in order."""
    stored = await app[BUS].read_stream(EVENTS.name, f"chat.*.{session_id}")
    messages: list[dict[str, Any]] = []
    for seq, event in stored:
        if isinstance(event.body, ChatIn):
            messages.append({"seq": seq, "role": "user", "text": event.body.message, "user_id": event.body.user_id,
                             "ts": event.ts.isoformat(), "job_id": event.job_id, "id": event.id})  # fmt: skip
        elif isinstance(event.body, ChatOut) and event.body.is_final:
            messages.append({"seq": seq, "role": "assistant", "text": event.body.content, "status": event.body.status,
                             "ts": event.ts.isoformat(), "job_id": event.job_id, "twin_id": event.twin_id,
                             "id": event.id})  # fmt: skip
    return messages


async def save_memory(request: web.Request) -> web.Response:
    body = await read_model(request, SaveMemoryRequest)
    who = caller(request)
    check_namespace_write(who, body.namespace)
    # Checked, not claimed: saving from a session is no reason to become its owner.
    check_session(who, body.session_id, await request.app[OWNERS].owner(body.session_id))
    # The session hub already follows the session's stream: its events feed the replies, so the
    # edge reads the result where its NATS user may (the stream), joined before the request goes out.
    replies = StreamReplies(request.app[BUS], MemoryResult, f"session {body.session_id}")
    hub = request.app[HUB]
    await hub.join(body.session_id, replies.offer)
    try:
        saved_by = {"saved_by": who.user_id}
        store = MemoryStore(
            request_id=new_id(),
            text=body.text,
            namespace=body.namespace,
            kb=body.kb,
            source=body.source,
            metadata=saved_by,
        )
        event = Envelope[MemoryStore](type=MEMORY_STORE, session_id=body.session_id, body=store)
        try:
            result = await replies.ask(event, SAVE_TIMEOUT_S)
        except ReplyTimeout:
            return web.json_response({"error": f"no memory worker answered within {SAVE_TIMEOUT_S:.0f}s"}, status=504)
    finally:
        await hub.leave(body.session_id, replies.offer)
    if result.error:
        return web.json_response({"error": result.error, "kind": result.error_kind}, status=400)
    return web.json_response({"id": result.stored_id, "namespace": body.namespace, "kb": body.kb}, status=201)


def register(app: web.Application) -> None:
    app.router.add_get("/v1/memory/search", search_memory)
    app.router.add_get("/v1/memory/namespaces", namespaces)
    app.router.add_post("/v1/memory", save_memory)
    app.router.add_get("/v1/memory", browse_memory)
    app.router.add_get("/v1/memory/{memory_id}", get_memory)
    app.router.add_patch("/v1/memory/{memory_id}", patch_memory)
    app.router.add_delete("/v1/memory/{memory_id}", delete_memory)
    app.router.add_get("/v1/search", global_search)
    app.router.add_get("/v1/sessions/{session_id}/history", session_history)
