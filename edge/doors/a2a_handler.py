"""The A2A request handler: the a2a-sdk's `RequestHandler` interface, answered by PAGI jobs through the
door core (edge/doors/job_run.py) instead of the SDK's own executor, task store and in-memory queues.

- A task is a job (task id = job id, contextId = PAGI session id); nothing is kept in this process:
  `tasks/get` reads the job record (KV `pagi_jobs`) and, for a finished job, its answer from the
  session's history (the core's `follow_job`), so it answers the same after an edge restart or from
  another edge.
- `message/send` waits (bounded by PAGI_CHAT_TIMEOUT_S; `returnImmediately` not at all) until the task
  completes, fails, is cancelled or needs input (a pending approval: `input-required`, its message
  saying what waits and how to answer); past the bound it answers the task as `working`, and the job
  goes on. `message/stream` sends the task, the twin's streamed text as `answer` artifact chunks, then
  the same end; both end at `input-required`, as the SDK's own servers do.
- The job goes on while the approval waits. The caller answers it from the console, over HTTP
  (`POST /v1/approvals/{id}`), on the bus, or with a follow-up A2A message to the task whose data part
  is `{"approval_id": ..., "approved": true|false}` (`bus_schemas.a2a_door.A2AApprovalReply`): decided
  through the core's `approvals.decide` as the caller, then that call follows the task to its next end.
  A text-only follow-up decides nothing (approvals are never free text) and is refused.
- `tasks/resubscribe` (`SubscribeToTask`) sends the task as it is, then follows it to its end, through
  the approval it may be waiting for (so a client can approve elsewhere and watch the rest).
- `tasks/cancel` publishes the job's cancel as the caller and answers the task once it is cancelled.
- Another user's task or context is answered as missing (TaskNotFound); push notifications are not
  offered (the card says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final, NoReturn

from a2a.helpers.proto_helpers import get_data_parts, get_text_parts
from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import (
    A2AError,
    InternalError,
    InvalidParamsError,
    InvalidRequestError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from pydantic import ValidationError

from bus_schemas import new_id
from bus_schemas.a2a_door import A2AApprovalReply, A2AMessageMetadata, A2AMessageText
from bus_schemas.documents import MAX_ATTACHMENTS
from bus_schemas.jobs import JobRecord
from bus_schemas.subjects import TOKEN_RE
from records.access import Caller, may_act_in_session
from records.twins import DEFAULT_TWIN_ID

from ..appkeys import OWNERS, SETTINGS, STATE
from ..chat_in import recorded_as, session_caller
from ..front.observability import recorded_trace_label
from ..uploads import ATTACHED_ONLY, clean_content_type, clean_filename, store_bytes, uploader_of
from . import a2a_tasks as tasks
from .a2a_cards import card_viewer, install_card, may_list, twin_card
from .approvals import decide
from .errors import DoorRefused
from .job_run import Delta, Finished, JobRun, Progress, WaitingApproval, follow_job, start_job

DOOR: Final = "a2a"
REQUEST: Final = "pagi.request"  # the aiohttp request, in the ASGI scope and the call context's state
TWIN: Final = "pagi.twin"  # the twin of the endpoint (/a2a/{twin}); None: the install's endpoint
KEEPALIVE_S: Final = 15.0
CANCEL_WAIT_S: Final = 10.0
SNAPSHOT_WAIT_S: Final = 2.0  # reading a waiting or finished job's last event from the session history
# A stream ends at the task's next end (or the approval's expiry, the core's); this bounds one that
# never gets there (a job stuck without its sweeper), so no connection is held for ever.
STREAM_LIMIT_S: Final = 3600.0


def _door(context: ServerCallContext) -> tuple[web.Request, Caller | None]:
    request = context.state.get(REQUEST)
    if not isinstance(request, web.Request):
        raise InternalError(message="the A2A door was called without its request")
    return request, session_caller(request, None)


def _endpoint_twin(context: ServerCallContext) -> str | None:
    twin = context.state.get(TWIN)
    return twin if isinstance(twin, str) else None


def _refusal(refused: DoorRefused, what: str) -> A2AError:
    """A core refusal in A2A's terms: hidden or missing things are not found (a task: TaskNotFound; a
    context, twin or approval: invalid params naming it missing), bad input is invalid params."""
    hidden = refused.status == 404 or (refused.status == 403 and what.startswith("context"))
    if hidden:
        if what.startswith("task"):
            return TaskNotFoundError(message=f"no {what}")
        return InvalidParamsError(message=f"no {what}")
    if refused.status in (400, 403, 409, 410, 422):
        return InvalidParamsError(message=refused.message)
    if refused.status == 429:
        return InvalidRequestError(message=refused.message)
    return InternalError(message=refused.message)


def _raise(refused: DoorRefused, what: str) -> NoReturn:
    raise _refusal(refused, what) from None


def _text_of(message: a2a.Message) -> str:
    try:
        return A2AMessageText(message="\n".join(get_text_parts(message.parts))).message
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise InvalidParamsError(message=f"the message's text: {problem}") from None


def _files_of(message: a2a.Message) -> list[tuple[bytes, str, str | None]]:
    """The message's file parts with their bytes (`raw`): uploaded as POST /v1/documents uploads one
    (edge/uploads.py) and attached. A file by `url` is not fetched: the edge fetches nothing."""
    found: list[tuple[bytes, str, str | None]] = []
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "url":
            raise InvalidParamsError(message="a file by url is not fetched: send its bytes (raw) instead")
        if kind != "raw":
            continue
        try:
            name = clean_filename(part.filename)
        except DoorRefused as refused:
            raise InvalidParamsError(message=f"a file part: {refused.message}") from None
        found.append((part.raw, name, clean_content_type(part.media_type)))
    if len(found) > MAX_ATTACHMENTS:
        raise InvalidParamsError(message=f"at most {MAX_ATTACHMENTS} files in one message")
    return found


def _metadata_twin(params: a2a.SendMessageRequest) -> str | None:
    for source in (params.message.metadata, params.metadata):
        if source.fields:
            try:
                twin = A2AMessageMetadata.model_validate(MessageToDict(source)).twin_id
            except ValidationError:
                raise InvalidParamsError(
                    message="metadata.twin_id must be a twin id (1-64 of A-Z a-z 0-9 _ -)"
                ) from None
            if twin is not None:
                return twin
    return None


def _reply_of(message: a2a.Message) -> A2AApprovalReply | None:
    for data in get_data_parts(message.parts):
        if isinstance(data, dict) and "approval_id" in data:
            try:
                return A2AApprovalReply.model_validate(data)
            except ValidationError as exc:
                problem = exc.errors(include_url=False, include_input=False)[0]
                where = ".".join(str(p) for p in problem["loc"]) or "reply"
                raise InvalidParamsError(message=f"the approval reply's {where}: {problem['msg']}") from None
    return None


class PagiRequestHandler(RequestHandler):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    # --- reading tasks -----------------------------------------------------------------------------

    async def _job(self, who: Caller | None, job_id: str) -> JobRecord:
        """The job behind a task id, if `who` may see it; else TaskNotFound, the same as a missing one."""
        job = await self.app[STATE].jobs.find(job_id) if TOKEN_RE.fullmatch(job_id) else None
        if job is None:
            raise TaskNotFoundError(message=f"no task {job_id}")
        if who is not None and not may_act_in_session(who, await self.app[OWNERS].owner(job.session_id)):
            raise TaskNotFoundError(message=f"no task {job_id}")
        return job

    async def _follow(self, who: Caller | None, job_id: str, recorded: str | None = None) -> JobRun:
        try:
            return await follow_job(self.app, who, job_id, door=DOOR, recorded_as=recorded)
        except DoorRefused as refused:
            _raise(refused, f"task {job_id}")

    async def _now(self, who: Caller | None, job: JobRecord) -> WaitingApproval | Finished | None:
        """What a job that ended or waits shows now: its answer, or its pending question (the core
        finds either in the session's history); None when it runs (or an approval was just decided)."""
        if not job.finished and job.waiting_for != "approval":
            return None
        async with await self._follow(who, job.job_id) as run:
            with contextlib.suppress(TimeoutError, DoorRefused):
                async with asyncio.timeout(SNAPSHOT_WAIT_S):
                    async for event in run.events(timeout_s=SNAPSHOT_WAIT_S):
                        if isinstance(event, WaitingApproval | Finished):
                            return event
        return None

    async def _snapshot(self, who: Caller | None, job: JobRecord) -> a2a.Task:
        """The task as the records have it now."""
        now = await self._now(who, job)
        if isinstance(now, Finished):
            state = tasks.ANSWER_STATES.get(now.answer.status, tasks.job_state(job.status))
            text = now.answer.content
            return tasks.task(
                job.job_id,
                job.session_id,
                state,
                asked=job.message,
                message=tasks.agent_text(job.job_id, job.session_id, text),
                answer=text if state == a2a.TASK_STATE_COMPLETED else None,
            )
        if isinstance(now, WaitingApproval):
            return tasks.task(
                job.job_id,
                job.session_id,
                a2a.TASK_STATE_INPUT_REQUIRED,
                asked=job.message,
                message=tasks.approval_message(now),
            )
        return tasks.task(job.job_id, job.session_id, a2a.TASK_STATE_WORKING, asked=job.message)

    async def on_get_task(self, params: a2a.GetTaskRequest, context: ServerCallContext) -> a2a.Task | None:
        _, who = _door(context)
        return await self._snapshot(who, await self._job(who, params.id))

    async def on_list_tasks(self, params: a2a.ListTasksRequest, context: ServerCallContext) -> a2a.ListTasksResponse:
        raise UnsupportedOperationError(message="listing tasks is not offered; GET /v1/audit lists your sessions")

    # --- starting and following ---------------------------------------------------------------------

    def _twin(self, context: ServerCallContext, params: a2a.SendMessageRequest) -> str | None:
        """The endpoint's twin, or the install endpoint's `metadata.twin_id` (the core checks the caller may use it)."""
        endpoint_twin = _endpoint_twin(context)
        named = _metadata_twin(params)
        if endpoint_twin is not None and named is not None and named != endpoint_twin:
            raise InvalidParamsError(message=f"this endpoint is twin {endpoint_twin}'s; metadata.twin_id names {named}")
        return endpoint_twin or named

    async def _open(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> tuple[JobRun, str | None, a2a.Task]:
        """Start the task a message asks for, or continue the one it names: the run to follow, the
        approval it decided (its own waiting event is skipped), and the task to send first."""
        request, who = _door(context)
        message = params.message
        if message.task_id:
            return await self._continue(request, who, message)
        files = _files_of(message)
        text = ATTACHED_ONLY if files and not get_text_parts(message.parts) else _text_of(message)
        session_id = message.context_id or new_id()
        if not TOKEN_RE.fullmatch(session_id):
            raise InvalidParamsError(message="contextId must be 1-64 of A-Z a-z 0-9 _ -")
        twin_id = self._twin(context, params)
        try:
            uploader = uploader_of(request, who)
            attachments = [(await store_bytes(self.app, uploader, *file))[0] for file in files]
            run = await start_job(
                self.app,
                who,
                door=DOOR,
                session_id=session_id,
                message=text,
                twin_id=twin_id,
                recorded_as=recorded_as(request, who) if who is not None else None,
                trace_label=recorded_trace_label(request),
                attachments=attachments,
            )
        except DoorRefused as refused:
            _raise(refused, f"context {session_id}" if refused.status == 403 else f"twin {twin_id or DEFAULT_TWIN_ID}")
        first = tasks.task(run.job_id, run.session_id, a2a.TASK_STATE_SUBMITTED, asked=text)
        return run, None, first

    async def _continue(
        self, request: web.Request, who: Caller | None, message: a2a.Message
    ) -> tuple[JobRun, str | None, a2a.Task]:
        """A follow-up message to a task: it may only decide the approval the task waits for."""
        job = await self._job(who, message.task_id)
        if message.context_id and message.context_id != job.session_id:
            raise InvalidParamsError(
                message=f"task {job.job_id} is in context {job.session_id}, not {message.context_id}"
            )
        reply = _reply_of(message)
        waiting_id = job.waiting_id if job.waiting_for == "approval" else None
        if reply is None:
            if waiting_id is not None:
                raise InvalidParamsError(
                    message=f"task {job.job_id} waits for approval {waiting_id}; text does not decide it: reply "
                    f'with a data part {{"approval_id": "{waiting_id}", "approved": true}} (or false)'
                )
            if job.finished:
                raise UnsupportedOperationError(
                    message=f"task {job.job_id} is {job.status}; send a new message (same contextId) for a new task"
                )
            raise InvalidParamsError(message=f"task {job.job_id} is working and asks for nothing")
        record = await self.app[STATE].approvals.find(reply.approval_id)
        if record is None or record.job_id != job.job_id:
            raise InvalidParamsError(message=f"task {job.job_id} has no approval {reply.approval_id}")
        recorded = recorded_as(request, who) if who is not None else None
        # Followed before deciding, so the job's next steps cannot slip past between the two.
        run = await self._follow(who, job.job_id, recorded)
        try:
            await decide(
                self.app,
                who,
                reply.approval_id,
                approved=reply.approved,
                always=reply.always,
                reason=reply.reason,
                recorded_as=recorded or "edge",
            )
        except DoorRefused as refused:
            await run.close(outcome=f"refused_{refused.status}")
            _raise(refused, f"approval {reply.approval_id}")
        except BaseException:
            await run.close(outcome="error")
            raise
        first = tasks.task(job.job_id, job.session_id, a2a.TASK_STATE_WORKING, asked=job.message)
        return run, reply.approval_id, first

    async def _events(
        self, run: JobRun, passed: str | None, *, limit_s: float = STREAM_LIMIT_S
    ) -> AsyncIterator[Event]:
        """The run's events as A2A events, up to the task's next end: its completion, failure or
        cancellation, or an approval other than `passed` (one already decided, or the one a
        resubscriber watches through: its waiting event is not news)."""
        streamed = False
        task_id, context_id = run.job_id, run.session_id
        # A deadline, not asyncio.timeout: this generator yields to the SSE writer in between.
        deadline = time.monotonic() + limit_s
        try:
            async for event in run.events(idle_s=KEEPALIVE_S):
                if time.monotonic() > deadline:
                    break
                if event is None:
                    continue  # silence: sse-starlette sends its own keep-alive comments
                if isinstance(event, Delta):
                    if event.text:
                        yield tasks.chunk_event(task_id, context_id, event.text, append=streamed, last=False)
                        streamed = True
                elif isinstance(event, Progress):
                    note = tasks.agent_text(task_id, context_id, event.message)
                    yield tasks.status_event(task_id, context_id, a2a.TASK_STATE_WORKING, note)
                elif isinstance(event, WaitingApproval):
                    if event.approval_id == passed:
                        continue
                    yield tasks.status_event(
                        task_id, context_id, a2a.TASK_STATE_INPUT_REQUIRED, tasks.approval_message(event)
                    )
                    return
                else:
                    state = tasks.ANSWER_STATES.get(event.answer.status, a2a.TASK_STATE_COMPLETED)
                    text = event.answer.content
                    if state == a2a.TASK_STATE_COMPLETED:
                        # The whole answer replaces what streamed: the final text is the record's.
                        yield tasks.chunk_event(task_id, context_id, text, append=False, last=True)
                    yield tasks.status_event(task_id, context_id, state, tasks.agent_text(task_id, context_id, text))
                    return
        except DoorRefused as refused:
            if refused.status != 504:
                raise _refusal(refused, f"task {task_id}") from None
        late = f"no end of task {task_id} in time; the job goes on: follow it with tasks/get or tasks/resubscribe"
        yield tasks.status_event(
            task_id, context_id, a2a.TASK_STATE_WORKING, tasks.agent_text(task_id, context_id, late)
        )

    async def on_message_send(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> a2a.Task | a2a.Message:
        run, decided, first = await self._open(params, context)
        async with run:
            result = a2a.Task()
            result.CopyFrom(first)
            result.status.CopyFrom(tasks.status(a2a.TASK_STATE_WORKING))
            if params.configuration.return_immediately:
                return result
            # Consumed here, in this task, with no yield in between: a timeout may wrap it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.app[SETTINGS].chat_timeout_s):
                    async for event in self._events(run, decided):
                        _apply(result, event)
            return result

    async def on_message_send_stream(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        run, decided, first = await self._open(params, context)
        async with run:
            yield first
            yield tasks.status_event(run.job_id, run.session_id, a2a.TASK_STATE_WORKING)
            async for event in self._events(run, decided):
                yield event

    async def on_subscribe_to_task(
        self, params: a2a.SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        _, who = _door(context)
        job = await self._job(who, params.id)
        snapshot = await self._snapshot(who, job)
        yield snapshot
        if snapshot.status.state in tasks.FINAL:
            return
        async with await self._follow(who, job.job_id) as run:
            waiting = job.waiting_id if job.waiting_for == "approval" else None
            async for event in self._events(run, waiting):
                yield event

    async def on_cancel_task(self, params: a2a.CancelTaskRequest, context: ServerCallContext) -> a2a.Task | None:
        request, who = _door(context)
        job = await self._job(who, params.id)
        if job.finished:
            raise TaskNotCancelableError(message=f"task {job.job_id} is already {job.status}")
        recorded = recorded_as(request, who) if who is not None else None
        async with await self._follow(who, job.job_id, recorded) as run:
            try:
                await run.cancel("cancelled over A2A (tasks/cancel)")
            except DoorRefused as refused:
                _raise(refused, f"task {job.job_id}")
            result = tasks.task(job.job_id, job.session_id, a2a.TASK_STATE_WORKING, asked=job.message)
            waiting = job.waiting_id if job.waiting_for == "approval" else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CANCEL_WAIT_S):
                    async for event in self._events(run, waiting):
                        _apply(result, event)
            return result

    # --- cards and what is not offered ---------------------------------------------------------------

    async def on_get_extended_agent_card(
        self, params: a2a.GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> a2a.AgentCard:
        request, _ = _door(context)
        viewer = card_viewer(request)
        endpoint_twin = _endpoint_twin(context)
        twins = await self.app[STATE].twins.list()
        if endpoint_twin is not None:
            twin = next((t for t in twins if t.id == endpoint_twin), None)
            if twin is None or not may_list(viewer, twin):
                raise InvalidParamsError(message=f"no twin {endpoint_twin}")
            return twin_card(request, twin)
        return install_card(request, [t for t in twins if may_list(viewer, t)])

    async def on_create_task_push_notification_config(
        self, params: a2a.TaskPushNotificationConfig, context: ServerCallContext
    ) -> a2a.TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_get_task_push_notification_config(
        self, params: a2a.GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> a2a.TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_list_task_push_notification_configs(
        self, params: a2a.ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> a2a.ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError

    async def on_delete_task_push_notification_config(
        self, params: a2a.DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError


def _apply(task: a2a.Task, event: Any) -> None:
    """Fold one streamed event into the task a blocking call answers."""
    if isinstance(event, a2a.TaskStatusUpdateEvent):
        task.status.CopyFrom(event.status)
        if event.status.HasField("message") and event.status.state != a2a.TASK_STATE_WORKING:
            task.history.append(event.status.message)
    elif isinstance(event, a2a.TaskArtifactUpdateEvent) and event.last_chunk:
        del task.artifacts[:]
        task.artifacts.append(event.artifact)
