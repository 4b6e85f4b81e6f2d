"""Re-running a recorded session: what `pagi replay SESSION --rerun` hands the planner.

A rerun publishes each recorded user message again, to a new session, as a `chat.in` whose
`replay` field (`ChatIn.replay: ReplayOf | None`) carries the decisions the planner recorded for
that message the first time. Unless `live` is set, the planner takes step N's decision from
`decisions` instead of asking its LLM (no provider call, no cost), so a difference in what follows
shows a change in the code, the prompt assembly or a worker, not the model's mood.
"""

from __future__ import annotations

from pydantic import Field

from .actions import Action
from .envelope import Body
from .limits import MAX_TEXT_CHARS


class RecordedDecision(Body):
    """One `plan.action` of the recorded job."""

    step: int = Field(ge=1)
    action: Action
    raw_decision: str = Field(max_length=MAX_TEXT_CHARS)
    decided_by: str = Field(max_length=200)


class ReplayOf(Body):
    session_id: str = Field(min_length=1, max_length=64, description="the recorded session")
    job_id: str = Field(min_length=1, max_length=64, description="the recorded job this message started")
    # Decide afresh (the twin's LLM is called); the decisions are then only for comparison.
    live: bool = False
    decisions: list[RecordedDecision] = Field(default_factory=list, max_length=64)
