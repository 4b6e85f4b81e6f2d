"""Publishing a handler's answer: the result event and a job-log line, with ids derived from the input."""

from __future__ import annotations

from typing import Any

from bus_schemas import Envelope, JobLog
from bus_schemas.joblog import LogLevel
from bus_schemas.memory import MemoryResult
from bus_schemas.streams import MEMORY_WORKER
from bus_schemas.subjects import JOB_LOG, MEMORY_RESULT
from pagi.bus import Bus, Delivery

SERVICE = "memory_worker"


async def reply(bus: Bus, event: Envelope[Any], result: MemoryResult, level: LogLevel, message: str) -> None:
    # Derived ids: a redelivered request yields the same ids, and JetStream drops the copies.
    await bus.publish(event.caused("result", MEMORY_RESULT, result))
    await bus.publish(event.caused("log", JOB_LOG, JobLog(level=level, message=message, service=SERVICE)))


async def log_line(bus: Bus, event: Envelope[Any], purpose: str, level: LogLevel, message: str) -> None:
    await bus.publish(event.caused(purpose, JOB_LOG, JobLog(level=level, message=message, service=SERVICE)))


def last_attempt(delivery: Delivery, max_attempts: int = MEMORY_WORKER.max_attempts) -> bool:
    """On the last attempt a handler answers with the error instead of retrying, so no job waits forever."""
    return delivery.attempt >= max_attempts
