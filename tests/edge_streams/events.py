"""Publishing session events the way services do, for tests that watch them arrive."""

from __future__ import annotations

from bus_schemas import Envelope, JobLog
from bus_schemas.subjects import JOB_LOG
from pagi.bus import Bus


async def log_line(bus: Bus, session_id: str, text: str, job_id: str = "job-1") -> int:
    """Publish a job.log line; returns its stream sequence."""
    event = Envelope[JobLog](
        type=JOB_LOG,
        session_id=session_id,
        job_id=job_id,
        body=JobLog(level="info", message=text, service="test"),
    )
    return await bus.publish(event)
