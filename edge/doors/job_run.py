"""Start a PAGI job as a caller and follow it: the one path every door takes (the OpenAI API, MCP, A2A,
the agents on NATS, and `POST /v1/chat` itself), so no door re-implements job following, approvals or
cancellation.

`start_job` checks the caller against the session (`edge.chat_in.may_enter`) and the twin
(`records.access.may_see_twin`: a twin the caller may not use is refused as unknown, 404), joins the
session's feed BEFORE publishing `chat.in` (so an answer racing back is seen), and returns a `JobRun`;
`follow_job` attaches to a job that already runs or ended (a second OpenAI call for the same session,
A2A `tasks/get` / resubscribe). `JobRun.events()` yields what the job does as door-neutral `JobEvent`s:

- `Delta`: one streamed chunk of the answer (a non-final `chat.out`);
- `Progress`: a `job.log` line of the job;
- `WaitingApproval`: the job asks a human (a final `chat.out` awaiting approval, with its
  `approve.request`); the iteration goes on, since the job continues after the decision (answered
  through `edge.doors.approvals.decide`, the console, or `approve.decision.<session>` on the bus);
- `Finished`: the job's last `chat.out` (completed, failed or cancelled); the iteration ends.

and `None` after every `idle_s` of silence, so a door can send a keep-alive. Refusals are `DoorRefused`
(`edge/doors/errors.py`), with an HTTP status a door maps to its own error shape.

`WaitingApproval` and `Finished` also carry the
event itself (`event`), `WaitingApproval` the approval's `reason`/`policy` and a standard sentence
saying how to answer (`how_to_answer`); `start_job` takes `namespace` and `check_twin` (POST /v1/chat
leaves an unknown twin to the planner, which answers with the default twin, as before);
`events(timeout_s=)` bounds the silence of a running job (default PAGI_CHAT_TIMEOUT_S); a wait for
an approval is bounded by its expiry (plus a grace for the planner's sweeper to say so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from bus_schemas import ApprovalRequest, ChatOut, Envelope, JobLog, new_id
from bus_schemas.documents import DocumentRef
from bus_schemas.jobs import JobCancel, JobRecord
from bus_schemas.limits import MAX_MESSAGE_CHARS
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import APPROVE_REQUEST, CHAT_OUT, JOB_CANCEL, JOB_LOG, TOKEN_RE, one_session
from pagi import metrics
from pagi.bus import TRANSIENT_ERRORS
from records.access import Caller, may_act_in_session, may_see_twin
from records.twins import DEFAULT_TWIN_ID

from ..appkeys import AUTH_KEYS, BUS, HUB, OWNERS, RATE_LIMITER, SETTINGS, STATE
from ..chat_in import may_enter, publish_chat_in
from ..front.rate_limit import RateLimiter
from ..live.feeds import FeedItem
from ..live.replay import history
from .errors import NOT_ACCEPTED, DoorRefused

log = logging.getLogger("edge.doors")

# Events of one job a door is still to read: a slow reader loses streamed chunks (counted, logged),
# never the job's questions or its answer.
QUEUE_SIZE: Final = 1024
# After an approval's expiry, how long to wait for the planner's sweeper to end the job (it runs every
# second by default) before the door stops waiting itself.
EXPIRY_GRACE_S: Final = 30.0
# History read when attaching to a job: from a little before the job was created.
HISTORY_SLACK: Final = timedelta(seconds=5)


@dataclass(frozen=True)
class Delta:
    """One streamed chunk of the twin's answer (a non-final `chat.out`)."""

    text: str


@dataclass(frozen=True)
class Progress:
    """A `job.log` line of this job."""

    message: str
    status: str | None


@dataclass(frozen=True)
class WaitingApproval:
    """The job asks a human; it goes on after the decision (or ends at `expires_at`)."""

    approval_id: str
    kind: str
    summary: str
    reason: str
    policy: str
    expires_at: datetime
    session_id: str
    job_id: str
    event: Envelope[Any]  # the final chat.out with status awaiting_approval

    @property
    def question(self) -> ChatOut:
        body: ChatOut = self.event.body
        return body

    @property
    def how_to_answer(self) -> str:
        """The same words from every door."""
        return (
            f"waiting for approval {self.approval_id} ({self.kind}: {self.summary}) until "
            f"{self.expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: approve or deny it in the PAGI console, "
            f"with POST /v1/approvals/{self.approval_id}, or on the bus as approve.decision.{self.session_id}"
        )


@dataclass(frozen=True)
class Finished:
    """The job's last `chat.out`: status completed, failed or cancelled."""

    answer: ChatOut
    job_id: str
    event: Envelope[Any]

    @property
    def status(self) -> str:
        return self.answer.status


JobEvent = Delta | WaitingApproval | Progress | Finished


def rate_limit(app: web.Application, who: Caller | None, door: str) -> None:
    """The edge's per-user rate limit for a door the HTTP front door does not guard (the agents on
    NATS); HTTP doors are limited by edge/front/security.py already and must not take a second token.
    Development mode (no keys) has no limit, as over HTTP."""
    limiter: RateLimiter | None = app.get(RATE_LIMITER)
    keys = app.get(AUTH_KEYS)
    if who is None or limiter is None or keys is None or not keys.enabled:
        return
    wait = limiter.take(who.user_id)
    if wait > 0:
        count(door, "refused_429")
        raise DoorRefused(429, "too many requests; slow down", retry_after_s=wait)


def count(door: str, outcome: str) -> None:
    metrics.DOOR_REQUESTS.labels(door, outcome).inc()


def _refused(door: str, status: int, message: str, job_id: str | None = None) -> DoorRefused:
    count(door, f"refused_{status}")
    return DoorRefused(status, message, job_id=job_id)


async def start_job(
    app: web.Application,
    who: Caller | None,
    *,
    door: str,
    session_id: str,
    message: str,
    twin_id: str | None,
    recorded_as: str | None,
    trace_label: str | None,
    namespace: str | None = None,
    check_twin: bool = True,
    attachments: list[DocumentRef] | None = None,
) -> JobRun:
    """Start a job as `who` (None: development mode with nobody named) and return it, followed.
    Raises DoorRefused: 400 bad session id or message, 403 another user's session, 404 a twin the
    caller may not use (or none of that id), 503 the bus did not take the message."""
    if not TOKEN_RE.fullmatch(session_id):
        raise _refused(door, 400, f"invalid session id {session_id!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    if not message.strip():
        raise _refused(door, 400, "the message is empty")
    if len(message) > MAX_MESSAGE_CHARS:
        raise _refused(door, 400, f"the message is longer than {MAX_MESSAGE_CHARS} characters")
    if twin_id is not None and not TOKEN_RE.fullmatch(twin_id):
        raise _refused(door, 404, f"no twin {twin_id[:64]!r}")
    try:
        if who is not None and not await may_enter(app[OWNERS], who, session_id):
            raise _refused(door, 403, f"session {session_id} belongs to another user")
        if check_twin:
            twin = await app[STATE].twins.get(twin_id or DEFAULT_TWIN_ID)
            if twin is None or (who is not None and not may_see_twin(who, twin.owner)):
                # The same answer for a twin that exists for someone else: nothing tells the two apart.
                raise _refused(door, 404, f"no twin {twin_id or DEFAULT_TWIN_ID}")
    except TRANSIENT_ERRORS:
        raise _refused(door, 503, "cannot check the session or twin now (the bus is away); retry") from None
    job_id = new_id()
    run = JobRun(app, who, door, job_id, session_id, twin_id or DEFAULT_TWIN_ID, recorded_as)
    await run.open()
    try:
        await publish_chat_in(
            app[BUS],
            session_id,
            message,
            who.user_id if who else None,
            twin_id,
            namespace,
            job_id,
            recorded_as,
            trace_label,
            who.role if who else None,
            attachments,
        )
    except NOT_ACCEPTED as exc:
        await run.close(outcome="refused_503")
        raise DoorRefused(503, f"message not accepted: {exc}") from None
    except ValidationError as exc:
        await run.close(outcome="refused_400")
        raise DoorRefused(400, f"invalid message: {exc.errors()[0]['msg']}") from None
    except BaseException:
        await run.close(outcome="error")
        raise
    return run


async def follow_job(
    app: web.Application, who: Caller | None, job_id: str, *, door: str, recorded_as: str | None = None
) -> JobRun:
    """Attach to a job `who` may see (its session's owner, or an admin; None: development mode).
    The run yields what is still to come: at once `Finished` if the job ended, a `WaitingApproval`
    if it waits for one now. Raises DoorRefused 404 (no such job, or one of another user's)."""
    if not TOKEN_RE.fullmatch(job_id):
        raise _refused(door, 404, f"no job {job_id[:64]!r}")
    try:
        job = await app[STATE].jobs.find(job_id)
        if job is not None and who is not None:
            if not may_act_in_session(who, await app[OWNERS].owner(job.session_id)):
                job = None
    except TRANSIENT_ERRORS:
        raise _refused(door, 503, "cannot read the job now (the bus is away); retry") from None
    if job is None:
        raise _refused(door, 404, f"no job {job_id}")
    run = JobRun(app, who, door, job_id, job.session_id, job.twin_id, recorded_as)
    await run.open()
    try:
        await run.catch_up(job)
    except BaseException:
        await run.close(outcome="error")
        raise
    return run


class JobRun:
    """One job as a door follows it. Use `async with` (or call `close`)."""

    def __init__(
        self,
        app: web.Application,
        who: Caller | None,
        door: str,
        job_id: str,
        session_id: str,
        twin_id: str,
        recorded_as: str | None,
    ) -> None:
        self.app = app
        self.who = who
        self.door = door
        self.job_id = job_id
        self.session_id = session_id
        self.twin_id = twin_id
        self.recorded_as = recorded_as
        self.last: JobEvent | None = None  # the last question or answer yielded
        self._queue: asyncio.Queue[FeedItem] = asyncio.Queue(QUEUE_SIZE)
        self._ready: list[JobEvent] = []  # found in the history by `catch_up`, yielded first
        self._after_seq = 0  # live items at or before this sequence were in the history
        self._requests: dict[str, ApprovalRequest] = {}
        self._dropped = 0
        self._joined = False
        self._counted = False
        self._started = time.monotonic()
        self._timed = False

    # --- the feed ---------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await self.app[HUB].follow(self.session_id, self._offer)
        except TRANSIENT_ERRORS:
            raise _refused(self.door, 503, "cannot follow the session now (the bus is away); retry") from None
        self._joined = True

    def _offer(self, item: FeedItem) -> None:
        event = item.event
        if event.job_id != self.job_id or event.type not in (CHAT_OUT, APPROVE_REQUEST, JOB_LOG):
            return
        keep = event.type == APPROVE_REQUEST or (isinstance(event.body, ChatOut) and event.body.is_final)
        if self._queue.full():
            if not keep:
                self._dropped += 1
                if self._dropped == 1:
                    log.warning("door %s: a slow reader of job %s; dropping streamed chunks", self.door, self.job_id)
                return
            # The oldest waiting item makes room: a question or an answer is never lost.
            self._dropped += 1
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    async def catch_up(self, job: JobRecord) -> None:
        """What the job did before this run joined: its answer if it ended, its question if it waits."""
        since = job.created_at - HISTORY_SLACK
        found: JobEvent | None = None
        async for item in history(self.app[BUS], EVENTS.name, one_session(self.session_id), since=since):
            self._after_seq = max(self._after_seq, item.seq)
            if item.event.job_id != self.job_id:
                continue
            event = await self._translate(item.event)
            if isinstance(event, WaitingApproval | Finished):
                found = event
        if isinstance(found, WaitingApproval):
            record = await self.app[STATE].approvals.get(self.session_id, found.approval_id)
            if record is None or record.state != "pending":
                found = None  # decided since: the job goes on, and what comes next is live
        if found is None and job.finished:
            # Ended, but its answer is no longer in the stream (limits): the record says how.
            status = job.status if job.status in ("completed", "failed", "cancelled") else "failed"
            answer = ChatOut(content=job.error or f"job {job.status}", status=status)
            stored = Envelope[ChatOut](
                type=CHAT_OUT, session_id=self.session_id, job_id=self.job_id, twin_id=self.twin_id, body=answer
            )
            found = Finished(answer, self.job_id, stored)
        if found is not None:
            self._ready.append(found)

    async def _translate(self, event: Envelope[Any]) -> JobEvent | None:
        body = event.body
        if event.type == APPROVE_REQUEST and isinstance(body, ApprovalRequest):
            self._requests[body.approval_id] = body
            return None
        if event.type == JOB_LOG and isinstance(body, JobLog):
            return Progress(body.message, body.status) if body.message else None
        if event.type != CHAT_OUT or not isinstance(body, ChatOut):
            return None
        if not body.is_final:
            return Delta(body.content) if body.content else None
        if body.status != "awaiting_approval":
            return Finished(body, self.job_id, event)
        return await self._question(event, body)

    async def _question(self, event: Envelope[Any], body: ChatOut) -> WaitingApproval | None:
        approval_id = getattr(body.issued_command, "approval_id", None)
        request = self._requests.get(approval_id or "") if approval_id else None
        if request is None and self._requests:
            request = list(self._requests.values())[-1]
        if request is not None:
            return WaitingApproval(
                request.approval_id,
                request.kind,
                request.summary,
                request.reason,
                request.policy,
                request.expires_at,
                self.session_id,
                self.job_id,
                event,
            )
        if approval_id is None:
            return None
        record = await self.app[STATE].approvals.get(self.session_id, approval_id)
        if record is None:
            return None
        return WaitingApproval(
            record.approval_id,
            record.kind,
            record.summary,
            record.reason,
            record.policy,
            record.expires_at,
            self.session_id,
            self.job_id,
            event,
        )

    # --- reading ----------------------------------------------------------------------------------

    async def events(
        self, idle_s: float | None = None, timeout_s: float | None = None
    ) -> AsyncIterator[JobEvent | None]:
        """The job's events as they come; `None` after each `idle_s` of silence; ends after `Finished`.
        Raises DoorRefused 504 (the job goes on) after `timeout_s` of silence while the job runs
        (default PAGI_CHAT_TIMEOUT_S), or when an approval's expiry passed and nobody said it ended."""
        silence_s = timeout_s if timeout_s is not None else self.app[SETTINGS].chat_timeout_s
        deadline = time.monotonic() + silence_s
        while self._ready:
            ready = self._ready.pop(0)
            self._seen(ready)
            yield ready
            if isinstance(ready, Finished):
                return
            if isinstance(ready, WaitingApproval):
                deadline = self._approval_deadline(ready)
        while True:
            now = time.monotonic()
            if now >= deadline:
                self._count("timeout")
                raise DoorRefused(504, f"no answer from job {self.job_id} in time (it goes on)", job_id=self.job_id)
            wait = deadline - now if idle_s is None else min(idle_s, deadline - now)
            try:
                item = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                if idle_s is not None and time.monotonic() < deadline:
                    yield None
                continue
            if item.seq <= self._after_seq:
                continue
            event = await self._translate(item.event)
            if event is None:
                continue
            self._seen(event)
            if isinstance(event, WaitingApproval):
                deadline = self._approval_deadline(event)
            elif not (isinstance(event, Progress) and event.status == "waiting_approval"):
                # The log line that follows a question says the job waits: the approval's expiry still
                # bounds the wait, not the chat timeout (a human may take longer than that).
                deadline = time.monotonic() + silence_s
            yield event
            if isinstance(event, Finished):
                return

    def _approval_deadline(self, waiting: WaitingApproval) -> float:
        left = (waiting.expires_at - datetime.now(UTC)).total_seconds()
        return time.monotonic() + max(0.0, left) + EXPIRY_GRACE_S

    def _seen(self, event: JobEvent) -> None:
        if isinstance(event, WaitingApproval | Finished):
            self.last = event
            if not self._timed:
                self._timed = True
                metrics.DOOR_SECONDS.labels(self.door).observe(time.monotonic() - self._started)
        if isinstance(event, Finished):
            self._count(event.status)

    def _count(self, outcome: str) -> None:
        if not self._counted:
            self._counted = True
            count(self.door, outcome)

    # --- acting -----------------------------------------------------------------------------------

    async def cancel(self, reason: str) -> None:
        """Ask the planner to cancel the job, as the caller (nothing if it already ended)."""
        job = await self.app[STATE].jobs.get(self.session_id, self.job_id)
        if job is not None and job.finished:
            return
        requested_by = self.recorded_as or (self.who.as_recorded if self.who else "edge")
        event = Envelope[JobCancel](
            type=JOB_CANCEL,
            session_id=self.session_id,
            job_id=self.job_id,
            twin_id=self.twin_id,
            body=JobCancel(job_id=self.job_id, requested_by=requested_by, reason=reason[:4000] or None),
        )
        try:
            await self.app[BUS].publish(event)
        except NOT_ACCEPTED as exc:
            raise DoorRefused(503, f"cancel not accepted: {exc}", job_id=self.job_id) from None

    async def close(self, outcome: str | None = None) -> None:
        """Leave the session's feed; counts the request if nothing did (awaiting approval, or left early)."""
        if outcome is not None:
            self._count(outcome)
        elif isinstance(self.last, WaitingApproval):
            self._count("awaiting_approval")
        else:
            self._count("left")
        if self._joined:
            self._joined = False
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await self.app[HUB].unfollow(self.session_id, self._offer)

    async def __aenter__(self) -> JobRun:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()
