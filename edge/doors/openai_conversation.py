"""How an OpenAI chat request maps onto PAGI: which session it is, what message the twin gets, and
whether the call answers an earlier job of the session instead of starting one.

The rules (README "OpenAI-compatible API" says the same):

- Session: the `X-PAGI-Session` header, else `metadata.session_id`; else, when the request carries
  `metadata.conversation_id`, a session derived from the caller, `user` and that id (the same three
  give the same session; another API user never lands in it); else a new session. The session id is
  sent back in the `X-PAGI-Session` header and in the completion's `pagi.session_id`.
- Message: the last message must be the user's; it is the new input. Earlier messages are context
  only for a session PAGI has not seen yet: then they go in front of the input as one bounded block
  (the newest turns first to be kept, MAX_CONTEXT_CHARS). A session PAGI knows already has its own
  history, which the planner reads; the client's copy of it is not sent again.
- Follow-up: a call on a session whose job waits for an approval does not start a new job (a chat
  message is never an approval): it answers that job, the pending approval again, or the outcome once
  decided. A call whose last assistant message is a PAGI pending-approval answer ("waiting for
  approval <id>") answers that approval's job: its outcome if it finished since. Anything else
  starts a new job.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from bus_schemas.limits import MAX_MESSAGE_CHARS
from bus_schemas.openai_compat import MAX_CONTEXT_CHARS, SESSION_HEADER, ChatCompletionRequest, ChatMessage
from bus_schemas.subjects import TOKEN_RE
from records.access import Caller

from ..appkeys import STATE
from ..uploads import ATTACHED_ONLY
from .errors import DoorRefused

# The words of `WaitingApproval.how_to_answer` (edge/doors/job_run.py) this door sends back.
PENDING_RE: Final = re.compile(r"waiting for approval ([A-Za-z0-9_-]{1,64})\b")
CONTEXT_HEAD: Final = "Earlier in this conversation (as the client sent it):\n"
CONTEXT_TAIL: Final = "\n\nNew message:\n"


class BadRequest(DoorRefused):
    """A 400 naming the request field (`param`), as OpenAI's errors do."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(400, message)
        self.param = param


@dataclass(frozen=True)
class SessionChoice:
    session_id: str
    how: str  # "header", "metadata", "conversation", "new"


def choose_session(request: web.Request, body: ChatCompletionRequest, who: Caller | None) -> SessionChoice:
    metadata = body.metadata or {}
    named = request.headers.get(SESSION_HEADER)
    how = "header"
    if named is None and "session_id" in metadata:
        named, how = metadata["session_id"], "metadata"
    if named is not None:
        if not TOKEN_RE.fullmatch(named):
            param = None if how == "header" else "metadata.session_id"
            raise BadRequest("the session id must be 1-64 characters of A-Z a-z 0-9 _ -", param)
        return SessionChoice(named, how)
    conversation = metadata.get("conversation_id")
    if conversation:
        owner = who.user_id if who is not None else ""
        # NUL-separated: no choice of `user` and conversation id can collide with another pair.
        digest = hashlib.sha256(f"{owner}\0{body.user or ''}\0{conversation}".encode()).hexdigest()
        return SessionChoice(f"oai-{digest[:40]}", "conversation")
    return SessionChoice(f"oai-{uuid.uuid4().hex}", "new")


def check_messages(body: ChatCompletionRequest) -> None:
    """What this door serves of OpenAI's request: text (and files in the new input, which
    openai_files.py attaches), one choice, no client-side tools."""
    if body.n not in (None, 1):
        raise BadRequest("n must be 1: a twin gives one answer per job", "n")
    if body.tools:
        raise BadRequest("tools are not supported: a twin calls its own tools, under its policy and approvals", "tools")
    last_no = len(body.messages) - 1
    for number, message in enumerate(body.messages):
        if isinstance(message.content, list):
            for part_no, part in enumerate(message.content):
                if part.type == "file" and number == last_no:
                    continue
                if part.type != "text":
                    raise BadRequest(
                        f"only text content is served; part {part_no} of message {number} is {part.type!r}",
                        f"messages.{number}.content",
                    )
    last = body.messages[-1]
    if last.role != "user":
        raise BadRequest("the last message must be the user's (it is the new input)", "messages")
    if not last.text().strip() and not has_files(last):
        raise BadRequest("the last user message is empty", f"messages.{len(body.messages) - 1}.content")


def has_files(message: ChatMessage) -> bool:
    return isinstance(message.content, list) and any(part.type == "file" for part in message.content)


def compose_message(messages: list[ChatMessage], session_is_new: bool) -> str:
    """The message the twin gets: the last user message, after the earlier ones as a bounded context
    block when the session is new (a known session's history is PAGI's own). Files alone say so."""
    new_input = messages[-1].text()
    if not new_input.strip():
        new_input = ATTACHED_ONLY
    earlier = [m for m in messages[:-1] if m.text().strip()]
    if not session_is_new or not earlier:
        return new_input
    budget = min(MAX_CONTEXT_CHARS, MAX_MESSAGE_CHARS - len(new_input) - len(CONTEXT_HEAD) - len(CONTEXT_TAIL))
    kept: list[str] = []
    used = 0
    for message in reversed(earlier):
        line = f"{message.role}: {message.text().strip()}"
        if used + len(line) + 1 > budget:
            break  # older turns go whole, never cut in the middle
        kept.append(line)
        used += len(line) + 1
    if not kept:
        return new_input
    return CONTEXT_HEAD + "\n".join(reversed(kept)) + CONTEXT_TAIL + new_input


async def earlier_job(app: web.Application, session_id: str, messages: list[ChatMessage]) -> str | None:
    """The job this call answers instead of starting one (the follow-up rule above), or None. The
    caller's right to the session is checked before (and again by `follow_job`)."""
    pending = await app[STATE].approvals.pending(session_id)
    if pending:
        return max(pending, key=lambda record: record.created_at).job_id
    last_assistant = next((m for m in reversed(messages) if m.role == "assistant"), None)
    if last_assistant is None:
        return None
    match = PENDING_RE.search(last_assistant.text())
    if match is None:
        return None
    record = await app[STATE].approvals.get(session_id, match.group(1))
    return record.job_id if record is not None else None
