"""Building the events of one job step, with ids derived from what triggered the step.

The same trigger (a redelivered message) always yields the same ids, so JetStream's duplicate
window drops a second copy of anything a crashed attempt already published.
"""

from __future__ import annotations

from typing import Any

from bus_schemas import Body, Envelope, JobLog, derived_id
from bus_schemas.joblog import LogLevel
from bus_schemas.jobs import JobRecord, JobState
from bus_schemas.subjects import JOB_LOG


def event(job: JobRecord, trigger_id: str, purpose: str, event_type: str, body: Body) -> Envelope[Any]:
    return Envelope[Any](
        id=derived_id(trigger_id, purpose),
        type=event_type,
        session_id=job.session_id,
        job_id=job.job_id,
        causation_id=trigger_id,
        twin_id=job.twin_id,
        body=body,
    )


def log(
    job: JobRecord,
    trigger_id: str,
    purpose: str,
    message: str,
    level: LogLevel = "plan",
    status: JobState | None = None,
    progress: float | None = None,
) -> Envelope[Any]:
    body = JobLog(level=level, service="planner", message=message, status=status, progress=progress)
    return event(job, trigger_id, purpose, JOB_LOG, body)
