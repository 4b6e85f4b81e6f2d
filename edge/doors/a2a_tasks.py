"""A PAGI job as an A2A task (the SDK's protobuf types): task id = job id, contextId = PAGI session id.

States: a job pending or running is `working`; waiting for an approval, `input-required` (with a
message saying what waits and how to answer it); completed, failed and cancelled are `completed`,
`failed` and `canceled`. The twin's answer is the task's one artifact (`answer`), streamed as the
twin streams it (artifact updates appended chunk by chunk), and the last status message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from a2a.helpers.proto_helpers import new_data_part, new_message, new_text_part
from a2a.types import a2a_pb2 as a2a
from google.protobuf.timestamp_pb2 import Timestamp

from bus_schemas.jobs import JobState
from bus_schemas.subjects import APPROVE_DECISION

from .job_run import WaitingApproval

ANSWER_ARTIFACT: Final = "answer"
STATES: Final[dict[str, a2a.TaskState]] = {
    "pending": a2a.TASK_STATE_WORKING,
    "running": a2a.TASK_STATE_WORKING,
    "waiting_approval": a2a.TASK_STATE_INPUT_REQUIRED,
    "completed": a2a.TASK_STATE_COMPLETED,
    "failed": a2a.TASK_STATE_FAILED,
    "cancelled": a2a.TASK_STATE_CANCELED,
}
# A final chat.out's status -> the task's state.
ANSWER_STATES: Final[dict[str, a2a.TaskState]] = {
    "completed": a2a.TASK_STATE_COMPLETED,
    "failed": a2a.TASK_STATE_FAILED,
    "cancelled": a2a.TASK_STATE_CANCELED,
    "awaiting_approval": a2a.TASK_STATE_INPUT_REQUIRED,
}
# Where a stream ends and a blocking send answers: the SDK's own servers stop there too.
ENDS_EXCHANGE: Final = frozenset(
    {a2a.TASK_STATE_COMPLETED, a2a.TASK_STATE_FAILED, a2a.TASK_STATE_CANCELED, a2a.TASK_STATE_INPUT_REQUIRED}
)
FINAL: Final = frozenset({a2a.TASK_STATE_COMPLETED, a2a.TASK_STATE_FAILED, a2a.TASK_STATE_CANCELED})


def job_state(status: JobState | str) -> a2a.TaskState:
    return STATES.get(status, a2a.TASK_STATE_WORKING)


def timestamp(at: datetime | None = None) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime((at or datetime.now(UTC)).astimezone(UTC))
    return stamp


def agent_text(task_id: str, context_id: str, text: str) -> a2a.Message:
    return new_message([new_text_part(text)], context_id=context_id, task_id=task_id)


def user_text(task_id: str, context_id: str, text: str) -> a2a.Message:
    return new_message([new_text_part(text)], context_id=context_id, task_id=task_id, role=a2a.ROLE_USER)


def approval_message(waiting: WaitingApproval) -> a2a.Message:
    """What waits and every way to answer it: as text for a person, and as a data part for a program."""
    text = (
        f"{waiting.how_to_answer}; or reply to this task (taskId {waiting.job_id}) with a data part "
        f'{{"approval_id": "{waiting.approval_id}", "approved": true}} (or false).'
    )
    data = {
        "approval_id": waiting.approval_id,
        "kind": waiting.kind,
        "summary": waiting.summary,
        "reason": waiting.reason,
        "expires_at": waiting.expires_at.isoformat(),
        "session_id": waiting.session_id,
        "job_id": waiting.job_id,
        "answer_with": {
            "http": f"POST /v1/approvals/{waiting.approval_id}",
            "bus": f"{APPROVE_DECISION}.{waiting.session_id}",
            "a2a": {"approval_id": waiting.approval_id, "approved": True},
        },
    }
    return new_message(
        [new_text_part(text), new_data_part(data, media_type="application/json")],
        context_id=waiting.session_id,
        task_id=waiting.job_id,
    )


def status(state: a2a.TaskState, message: a2a.Message | None = None) -> a2a.TaskStatus:
    result = a2a.TaskStatus(state=state, timestamp=timestamp())
    if message is not None:
        result.message.CopyFrom(message)
    return result


def status_event(
    task_id: str, context_id: str, state: a2a.TaskState, message: a2a.Message | None = None
) -> a2a.TaskStatusUpdateEvent:
    return a2a.TaskStatusUpdateEvent(task_id=task_id, context_id=context_id, status=status(state, message))


def answer_artifact(text: str) -> a2a.Artifact:
    return a2a.Artifact(artifact_id=ANSWER_ARTIFACT, name="answer", parts=[new_text_part(text)])


def chunk_event(task_id: str, context_id: str, text: str, *, append: bool, last: bool) -> a2a.TaskArtifactUpdateEvent:
    return a2a.TaskArtifactUpdateEvent(
        task_id=task_id, context_id=context_id, artifact=answer_artifact(text), append=append, last_chunk=last
    )


def task(
    task_id: str,
    context_id: str,
    state: a2a.TaskState,
    *,
    asked: str | None = None,
    message: a2a.Message | None = None,
    answer: str | None = None,
) -> a2a.Task:
    """A task: the user's message as its history, the state's message, the answer as its artifact."""
    result = a2a.Task(id=task_id, context_id=context_id, status=status(state, message))
    if asked is not None:
        result.history.append(user_text(task_id, context_id, asked))
    if message is not None:
        result.history.append(message)
    if answer is not None:
        result.artifacts.append(answer_artifact(answer))
    return result
