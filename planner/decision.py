"""A planner decision: the typed action, and the raw text it came from."""

from __future__ import annotations

from dataclasses import dataclass

from bus_schemas import Action


@dataclass(frozen=True)
class Decision:
    action: Action
    # What was decided, as text: the LLM's raw reply, or the deterministic rule that fired.
    raw: str
    # 'deterministic' or 'llm:<provider>/<model>'
    decided_by: str = "deterministic"
    # Something the job log should say about how this was decided (e.g. the LLM failed).
    note: str | None = None


class ReplayGap(Exception):
    """A rerun reached a step the recorded job never took: end the job rather than ask a model."""
