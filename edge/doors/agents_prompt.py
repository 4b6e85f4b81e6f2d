"""One prompt of the Synadia agent protocol, served as a PAGI job (edge/doors/job_run.py).

Before the protocol's leading `status: ack` (a request interceptor of the host SDK), the job is started
as the agent's owner: a refusal (the rate limit, another user's session, a twin the owner may not use,
bad input, the bus away) is the protocol's error frame (`Nats-Service-Error-Code`, the HTTP-like status
of `DoorRefused`) and the terminator, with no ack and no job. Then the handler streams the job:

- each streamed piece of the answer is a `response` chunk, and the final answer whatever of it did not
  stream yet (a final answer that is not the streamed text continued is sent whole);
- a step that needs approval is a `query` chunk whose reply subject lies under the owner's own prompt
  subjects (bus_schemas.agents.approval_reply_subject), so only that owner's NATS user can answer it;
  the answer (`allow`, `always`, `deny [reason]`) becomes a normal decision through
  edge.doors.approvals.decide: durable in KV, recorded as the owner, and the same approval can be
  answered from the console or POST /v1/approvals instead, the stream then goes on by itself;
- a job that failed or was cancelled says so in a `status` chunk after its text (`failed`,
  `cancelled`: callers ignore status values they do not know, protocol §6.6);
- a job that stops answering within PAGI_CHAT_TIMEOUT_S is a 504 error frame (the job goes on).

The SDK sends the ack, its keep-alive acks every 30 s, error frames and the empty terminator. The
caller's W3C `traceparent` header, when it sends one, is the parent of the job's trace.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import contextvars
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web
from synadia_ai.agent_service import PromptStream, RequestInterceptorContext, RequestRejectedError
from synadia_ai.agent_service.interceptor import CallNext
from synadia_ai.agents import Attachment, Envelope, ProtocolError, QueryChunk, StatusChunk, decode

from bus_schemas import agents as protocol
from bus_schemas.documents import MAX_ATTACHMENTS, DocumentRef
from pagi.bus import Observer
from pagi.tracecontext import current_traceparent
from pagi.tracing import remote_parent, server_span
from records.access import Caller

from ..appkeys import BUS
from ..uploads import ATTACHED_ONLY, clean_filename, store_bytes
from .approvals import decide
from .errors import DoorRefused
from .job_run import Delta, Finished, JobRun, Progress, WaitingApproval, rate_limit, start_job

log = logging.getLogger("edge.doors.agents")

DOOR: Final = "agents"
# Answers to one query the door holds before reading them; more are dropped (one is all it takes).
ANSWER_QUEUE: Final = 4
# How often an unreadable answer is met with the question again, before the door waits for the
# console (or the expiry) without asking.
MAX_REASKS: Final = 3
TRACEPARENT_HEADER: Final = "traceparent"

# The job started by the interceptor for the handler of the same request (the SDK runs the handler
# inside the interceptor's context).
_RUN: contextvars.ContextVar[JobRun | None] = contextvars.ContextVar("agents_job_run", default=None)


@dataclass(frozen=True)
class Agent:
    """One registered agent: an owner's conversation (session) with one twin."""

    owner: Caller
    session_id: str
    twin_id: str


class StartJob:
    """The request interceptor that starts the job (or refuses) before the ack."""

    def __init__(self, app: web.Application, agent: Agent) -> None:
        self.app = app
        self.agent = agent

    async def around_request(self, ctx: RequestInterceptorContext, call_next: CallNext) -> None:
        who = self.agent.owner
        traceparent = _header(ctx.headers, TRACEPARENT_HEADER)
        with server_span("NATS", "agents.prompt", remote_parent(traceparent, None)) as span:
            token = current_traceparent.set(traceparent) if span is None and traceparent else None
            try:
                run = await self._start(ctx.envelope, who)
            finally:
                if token is not None:
                    current_traceparent.reset(token)
        bound = _RUN.set(run)
        try:
            await call_next()
        finally:
            _RUN.reset(bound)
            await run.close()

    async def _start(self, envelope: Envelope, who: Caller) -> JobRun:
        try:
            rate_limit(self.app, who, DOOR)
            attachments = await _stored_attachments(self.app, who, envelope.attachments or [])
            return await start_job(
                self.app,
                who,
                door=DOOR,
                session_id=self.agent.session_id,
                message=envelope.prompt or (ATTACHED_ONLY if attachments else envelope.prompt),
                twin_id=self.agent.twin_id,
                recorded_as=who.as_recorded,
                trace_label=None,
                attachments=attachments,
            )
        except DoorRefused as refused:
            raise RequestRejectedError(_error_code(refused.status), refused.message) from None


async def _stored_attachments(app: web.Application, who: Caller, given: list[Attachment]) -> list[DocumentRef]:
    """The prompt's attachments (protocol §5.2), uploaded as POST /v1/documents uploads a file
    (edge/uploads.py) and offered to the twin with the message; stored in memory only if approved."""
    if len(given) > MAX_ATTACHMENTS:
        raise DoorRefused(400, f"at most {MAX_ATTACHMENTS} attachments in one prompt")
    refs = []
    for attachment in given:
        name = clean_filename(attachment.filename)
        try:
            data = base64.b64decode(attachment.content, validate=True)
        except binascii.Error:
            raise DoorRefused(400, f"attachment {name!r}: its content is not base64") from None
        refs.append((await store_bytes(app, who.user_id, data, name, None))[0])
    return refs


def handler_for(app: web.Application, agent: Agent) -> Handler:
    return Handler(app, agent)


class Handler:
    """The prompt handler: the job's events as protocol chunks."""

    def __init__(self, app: web.Application, agent: Agent) -> None:
        self.app = app
        self.agent = agent

    async def __call__(self, envelope: Envelope, stream: PromptStream) -> None:
        run = _RUN.get()
        if run is None:  # the interceptor always binds one; without it there is no job to stream
            raise RequestRejectedError(500, "no job was started for this prompt")
        streamed: list[str] = []
        asking: Asking | None = None
        try:
            async for event in run.events():
                if isinstance(event, Delta):
                    streamed.append(event.text)
                    await stream.send(event.text)
                elif isinstance(event, WaitingApproval):
                    if asking is not None:
                        await asking.stop()
                    asking = Asking(self.app, self.agent, event, stream)
                    await asking.start()
                elif isinstance(event, Finished):
                    await _send_answer(stream, "".join(streamed), event)
                elif isinstance(event, Progress) or event is None:
                    continue
                if asking is not None and isinstance(event, Delta | Finished):
                    # The job moved on: its approval was decided (here or elsewhere).
                    await asking.stop()
                    asking = None
        except DoorRefused as refused:
            raise RequestRejectedError(_error_code(refused.status), refused.message) from None
        except Exception:
            # The SDK answers a bare 500 and logs no detail; the reason is kept here.
            log.exception("agents: prompt on %s failed", self.agent.session_id)
            raise
        finally:
            if asking is not None:
                await asking.stop()


async def _send_answer(stream: PromptStream, streamed: str, finished: Finished) -> None:
    content = finished.answer.content
    rest = content[len(streamed) :] if content.startswith(streamed) else content
    if rest:
        await stream.send(rest)
    if finished.status != "completed":
        await stream.send(StatusChunk(status=finished.status))


@dataclass
class Asking:
    """One approval asked as a `query` chunk, and the caller's answers to it read until it is decided."""

    app: web.Application
    agent: Agent
    waiting: WaitingApproval
    stream: PromptStream
    answers: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(ANSWER_QUEUE))
    observer: Observer | None = None
    task: asyncio.Task[None] | None = None

    @property
    def reply_subject(self) -> str:
        return protocol.approval_reply_subject(
            self.agent.owner.user_id, self.agent.session_id, self.waiting.approval_id
        )

    async def start(self) -> None:
        # Listening before the question goes out: an answer can come back at once.
        self.observer = await self.app[BUS].listen(self.reply_subject, self._offer)
        await self._ask()
        self.task = asyncio.create_task(self._read(), name=f"agents-answer-{self.waiting.approval_id}")

    async def _offer(self, subject: str, payload: bytes) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.answers.put_nowait(payload)

    async def _ask(self, hint: str | None = None) -> None:
        prompt = protocol.query_text(f"{self.waiting.kind}: {self.waiting.summary}", hint)
        await self.stream.send(QueryChunk(id=self.waiting.approval_id, reply_subject=self.reply_subject, prompt=prompt))

    async def _read(self) -> None:
        reasks = 0
        while True:
            payload = await self.answers.get()
            answer = _answer(payload)
            if answer is None:
                if reasks < MAX_REASKS:
                    reasks += 1
                    await self._ask("That was not an answer: reply with allow, always or deny.")
                continue
            try:
                await decide(
                    self.app,
                    self.agent.owner,
                    self.waiting.approval_id,
                    approved=answer.verdict != "deny",
                    always=answer.verdict == "always",
                    reason=answer.reason,
                    recorded_as=self.agent.owner.as_recorded,
                )
                return
            except DoorRefused as refused:
                if refused.status in (404, 409, 410):
                    return  # decided elsewhere already, or expired: the job's own events say what follows
                log.info("agents: approval %s answer refused: %s", self.waiting.approval_id, refused.message)
                if reasks < MAX_REASKS:
                    reasks += 1
                    await self._ask(f"Not decided: {refused.message}.")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            except Exception:
                # Reading the answers failed (the bus away mid-decision): the stream's own outcome stands.
                log.exception("agents: reading the answers to approval %s failed", self.waiting.approval_id)
            self.task = None
        if self.observer is not None:
            await self.observer.stop()
            self.observer = None


def _answer(payload: bytes) -> protocol.Answer | None:
    """A caller's reply (plain text, or an envelope whose `prompt` is the text) as a verdict."""
    try:
        text = decode(payload).prompt
    except (ProtocolError, ValueError):
        return None
    return protocol.parse_answer(text)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _error_code(status: int) -> int:
    """The protocol's error codes are HTTP's 4xx and 5xx classes (§9)."""
    return status if 400 <= status <= 599 else 500
