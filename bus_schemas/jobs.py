"""Jobs: the state of one chat message's run, kept in KV so any planner copy can continue it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .chat import SourceMemory
from .documents import MAX_ATTACHMENTS, DocumentRef
from .envelope import Body
from .replay import ReplayOf

# A step keeps at most this many of the memories it found, for the answer's citations.
MAX_STEP_SOURCES = 20

JobState = Literal["pending", "waiting_approval", "running", "completed", "failed", "cancelled"]
FINISHED_STATES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class JobCancel(Body):
    job_id: str = Field(min_length=1, max_length=64)
    requested_by: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=4000)


class JobStep(BaseModel):
    """One decision of the agent loop and what came of it."""

    model_config = ConfigDict(extra="forbid")

    step: int
    # The event that caused this decision: a redelivered trigger finds its step and reuses it.
    trigger_id: str
    action_type: str
    action: dict[str, Any]
    decided_by: str
    raw: str = ""
    # What the job log should say about how it was decided (e.g. the LLM failed and why).
    note: str | None = None
    # What the action produced, as text the next decision sees ("observation").
    observation: str | None = None
    # The event whose arrival recorded the observation: redelivered after a crash that came before the
    # next step was stored, it finds this step and the job goes on instead of being dropped as stale.
    observed_by: str | None = None
    # The memories the step's result brought (a memory search's hits): the answer cites them.
    sources: list[SourceMemory] = Field(default_factory=list, max_length=MAX_STEP_SOURCES)


class JobRecord(BaseModel):
    """KV `pagi_jobs`, key `<session>.<job_id>`."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    session_id: str
    twin_id: str
    user_id: str | None = None
    message: str
    status: JobState = "pending"
    steps: list[JobStep] = Field(default_factory=list)
    # What the job waits for now: an approval, or a worker's answer to a request.
    waiting_for: Literal["approval", "memory", "tool", "build"] | None = None
    waiting_id: str | None = None
    waiting_since: datetime | None = None
    # The job log already said the worker is late (said once per wait).
    warned: bool = False
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    # A rerun of a recorded job (`pagi replay --rerun`): its decisions are reused step by step.
    replay: ReplayOf | None = None
    # The files sent with the message (ChatIn.attachments): each is read before anything else.
    attachments: list[DocumentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    # The twin's prompt version when the job began (an eval case captured from it says so).
    prompt_version: int | None = Field(default=None, ge=1)
    # A sub-job (ActionAskTwin): the job and step that asked, and the twins that led to it, root first
    # (the asking twin last); empty for a job a person started.
    parent_job_id: str | None = None
    parent_step: int | None = Field(default=None, ge=1)
    chain: list[str] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES
