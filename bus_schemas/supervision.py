"""What `pagi up`'s supervisor says about its children, for the edge's /health.

The supervisor is not a service, but it beats like one (`pagi.heartbeat.pagi_up.<instance>`, a
plain `Heartbeat`) and puts each child's state in the beat's `details` as flat scalars,
`child.<name>.<field>`: a worker that crashed shows as "restarting" with its exit code at once,
not only once its own heartbeats have stopped coming (three intervals later).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .heartbeat import Scalar

SUPERVISOR: Final = "pagi_up"
CHILD_PREFIX: Final = "child."

# starting: spawned, not ready yet; running: said it is ready; restarting: exited, waiting out its backoff.
ChildState = Literal["starting", "running", "restarting"]


class ChildReport(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    state: ChildState
    pid: int | None = None
    last_exit_code: int | None = Field(default=None, description="how its last run ended (negative: the signal)")
    crashes_in_a_row: int = Field(default=0, ge=0)
    restarts: int = Field(default=0, ge=0, description="since `pagi up` started")
    restart_delay_s: float | None = Field(default=None, ge=0, description="while restarting: the backoff it waits")


def to_details(children: dict[str, ChildReport]) -> dict[str, Scalar]:
    details: dict[str, Scalar] = {}
    for name, report in children.items():
        for key, value in report.model_dump().items():
            details[f"{CHILD_PREFIX}{name}.{key}"] = value
    return details


def from_details(details: dict[str, Scalar]) -> dict[str, ChildReport]:
    """The children in a supervisor's heartbeat details; a child whose fields do not validate
    (another version's) is left out rather than guessed at."""
    fields: dict[str, dict[str, Scalar]] = {}
    for key, value in details.items():
        if key.startswith(CHILD_PREFIX) and key.count(".") == 2:
            _, name, field = key.split(".")
            fields.setdefault(name, {})[field] = value
    reports = {}
    for name, values in fields.items():
        try:
            reports[name] = ChildReport.model_validate(values)
        except ValidationError:
            continue
    return reports
