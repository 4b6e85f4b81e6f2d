"""Serving one followed job (edge/doors/job_run.py) as an OpenAI chat completion: whole, or as a
stream of `chat.completion.chunk` server-sent events.

- Whole: the answer when the job finishes; when it asks for approval, at once, the pending approval
  as the message (finish_reason "stop", `pagi.status` "awaiting_approval", `pagi.pending_approval`).
  No answer within PAGI_CHAT_TIMEOUT_S: a 504 (the job goes on).
- Stream: a role chunk, then the twin's streamed tokens as content deltas; an approval is a content
  delta saying how to answer it, and the stream stays open with `: keep-alive` comments until the
  decision (then the result streams) or the approval's expiry; the last chunk has the finish reason
  and `pagi`, then the usage chunk if asked (`stream_options.include_usage`), then `data: [DONE]`.
  A refusal after the stream began is an `error` object in a data line (the SDK raises it).
- A client that goes away mid-stream leaves the job running: it may be waiting for a human, whose
  decision is durable; the same session asked again answers it (openai_conversation.py). Cancel a
  job with POST /v1/jobs/{id}/cancel.
- `max_tokens` (or `max_completion_tokens`) bounds the answer served: it is cut at that many
  estimated tokens with finish_reason "length" (the twin's own token limit bounds what it writes).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from bus_schemas.openai_compat import (
    JOB_HEADER,
    SESSION_HEADER,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FinishReason,
    PagiInfo,
    PendingApproval,
    Usage,
    estimate_tokens,
)

from ..appkeys import SETTINGS
from . import job_run
from .errors import DoorRefused
from .job_run import Finished, JobRun, WaitingApproval
from .openai_errors import error_body

log = logging.getLogger("edge.doors.openai")

KEEPALIVE_S: Final = 10.0
CHARS_PER_TOKEN: Final = 4


@dataclass
class Reply:
    """What one call is serving: the job, its model (twin), the input as sent, the budget."""

    run: JobRun
    model: str
    prompt: str
    max_tokens: int | None
    include_usage: bool
    resumed: bool
    created: int = field(default_factory=lambda: int(time.time()))
    served: str = ""  # the twin's answer as sent so far (the budget counts it)
    cut: bool = False

    @property
    def id(self) -> str:
        return f"chatcmpl-{self.run.job_id}"

    @property
    def headers(self) -> dict[str, str]:
        return {SESSION_HEADER: self.run.session_id, JOB_HEADER: self.run.job_id}

    def take(self, text: str) -> str:
        """The part of `text` the budget lets through (all of it without max_tokens)."""
        if self.max_tokens is None or self.cut:
            return "" if self.cut else text
        room = self.max_tokens * CHARS_PER_TOKEN - len(self.served)
        if len(text) > room:
            self.cut = True
            text = text[: max(0, room)]
        return text

    def info(self, status: str, waiting: WaitingApproval | None = None) -> PagiInfo:
        pending = None
        if waiting is not None:
            pending = PendingApproval(
                approval_id=waiting.approval_id,
                kind=waiting.kind,
                summary=waiting.summary,
                expires_at=waiting.expires_at,
                approve_url=f"/v1/approvals/{waiting.approval_id}",
                bus_subject=f"approve.decision.{waiting.session_id}",
            )
        return PagiInfo(
            session_id=self.run.session_id,
            job_id=self.run.job_id,
            twin_id=self.run.twin_id,
            status=status,
            pending_approval=pending,
            resumed=self.resumed,
        )

    def usage(self, content: str) -> Usage:
        prompt, completion = estimate_tokens(self.prompt), estimate_tokens(content)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)

    def finish_reason(self) -> FinishReason:
        return "length" if self.cut else "stop"


def pending_text(waiting: WaitingApproval, resumed_over: bool) -> str:
    text = waiting.how_to_answer
    if resumed_over:
        text += ". Your new message was not sent: this session's job waits for this decision first."
    return text


async def complete(request: web.Request, reply: Reply, new_message_dropped: bool) -> web.Response:
    """The whole answer, or the pending approval at once."""
    timeout_s = request.app[SETTINGS].chat_timeout_s
    async for event in reply.run.events(timeout_s=timeout_s):
        if isinstance(event, WaitingApproval):
            content = pending_text(event, new_message_dropped)
            return _completion(reply, content, "awaiting_approval", event)
        if isinstance(event, Finished):
            content = reply.take(event.answer.content)
            reply.served += content
            return _completion(reply, content, event.status, None)
    raise DoorRefused(504, f"the events of job {reply.run.job_id} ended without an answer", job_id=reply.run.job_id)


def _completion(reply: Reply, content: str, status: str, waiting: WaitingApproval | None) -> web.Response:
    completion = ChatCompletion(
        id=reply.id,
        created=reply.created,
        model=reply.model,
        choices=[Choice(message=AssistantMessage(content=content), finish_reason=reply.finish_reason())],
        usage=reply.usage(content),
        pagi=reply.info(status, waiting),
    )
    return web.Response(text=completion.model_dump_json(), content_type="application/json", headers=reply.headers)


class _Gone(Exception):
    """The client closed the stream."""


async def stream(request: web.Request, reply: Reply, new_message_dropped: bool) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold the chunks back
            **reply.headers,
        }
    )
    await response.prepare(request)
    sender = _Sender(response, reply)
    try:
        await sender.chunk(Delta(role="assistant", content=""))
        await _follow(request, sender, new_message_dropped)
    except _Gone:
        log.info("an OpenAI stream of job %s was closed by the client; the job goes on", reply.run.job_id)
    except DoorRefused as refused:
        await sender.error(refused)
    return response


async def _follow(request: web.Request, sender: _Sender, new_message_dropped: bool) -> None:
    reply = sender.reply
    segment = ""  # streamed since the job began or since its last question
    timeout_s = request.app[SETTINGS].chat_timeout_s
    async for event in reply.run.events(idle_s=KEEPALIVE_S, timeout_s=timeout_s):
        if event is None:
            await sender.raw(b": keep-alive\n\n")
        elif isinstance(event, job_run.Delta):
            segment += event.text
            await sender.content(event.text)
        elif isinstance(event, WaitingApproval):
            lead = "\n\n" if reply.served or segment else ""
            await sender.content(lead + pending_text(event, new_message_dropped) + "\n\n", counted=False)
            new_message_dropped = False
            segment = ""
        elif isinstance(event, Finished):
            answer = event.answer.content
            # The final answer is what the console shows; what streamed was it being written. Only
            # the part not streamed yet is sent (when the two differ, the streamed text stands).
            if answer.startswith(segment):
                await sender.content(answer[len(segment) :])
            elif not segment:
                await sender.content(answer)
            await sender.finish(event.status)
            return
    raise DoorRefused(504, f"the events of job {reply.run.job_id} ended without an answer", job_id=reply.run.job_id)


class _Sender:
    def __init__(self, response: web.StreamResponse, reply: Reply) -> None:
        self.response = response
        self.reply = reply

    async def raw(self, data: bytes) -> None:
        try:
            await self.response.write(data)
        except (ConnectionResetError, RuntimeError) as exc:  # RuntimeError: aiohttp's closed transport
            raise _Gone from exc

    async def chunk(self, delta: Delta, finish: FinishReason | None = None, info: PagiInfo | None = None) -> None:
        chunk = ChatCompletionChunk(
            id=self.reply.id,
            created=self.reply.created,
            model=self.reply.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            pagi=info,
        )
        await self.raw(b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n")

    async def content(self, text: str, counted: bool = True) -> None:
        if counted:
            text = self.reply.take(text)
            self.reply.served += text
        if text:
            await self.chunk(Delta(content=text))

    async def finish(self, status: str) -> None:
        reply = self.reply
        await self.chunk(Delta(), reply.finish_reason(), reply.info(status))
        if reply.include_usage:
            usage = ChatCompletionChunk(
                id=reply.id, created=reply.created, model=reply.model, choices=[], usage=reply.usage(reply.served)
            )
            await self.raw(b"data: " + usage.model_dump_json(exclude_none=True).encode() + b"\n\n")
        await self.raw(b"data: [DONE]\n\n")

    async def error(self, refused: DoorRefused) -> None:
        body = error_body(refused.status, refused.message)
        try:
            await self.raw(b"data: " + json.dumps(body.model_dump()).encode() + b"\n\n")
            await self.raw(b"data: [DONE]\n\n")
        except _Gone:
            pass
