"""Schedule firings (stream PAGI_SCHEDULES, `schedule.fired.<id>`) become chat messages: each firing
one chat message from the schedule's owner to its twin, handled by the chat-in path itself
(planner/chat_in.py) as a chat.in would be, and so one job, run under the twin's policy like any
other. Not published as a chat.in: the planner may not publish what a person says (its NATS user
cannot), so the job's log records "scheduled by <id> for <owner>" instead.

Exactly one job per firing, whatever number of planners: they share the durable `planner-schedules`,
and the message's id (which is its job's id) is derived from the firing's stream sequence, the one
thing that differs between two firings of the same definition (their bodies are the same). A
redelivered firing yields the same id, and the chat-in path finds its job as for a redelivered chat.in.

No pile-up: while the schedule's last job has not finished (it waits for an approval, say), a firing
is skipped: counted on the schedule record (`skipped`, `last_skipped_at`) and said on that job's log.
A firing of a paused, removed or unreadable schedule is dropped.

A firing is not an event of PAGI_EVENTS (the server writes its headers, the body is the
definition's), so it is read by the bus runtime's `RawPullConsumer`, not `PullConsumer`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from bus_schemas import ChatIn, Envelope, derived_id
from bus_schemas.jobs import JobRecord
from bus_schemas.schedules import SCHEDULES_STREAM, Schedule
from bus_schemas.streams import PLANNER_SCHEDULES
from bus_schemas.subjects import CHAT_IN
from pagi.bus import Bus, Delivery, Handler, RawMessage, RawPullConsumer
from records.jobs import JobStore
from records.schedules import ScheduleStore

from . import emit

log = logging.getLogger("planner.schedules")

NEXT_HEADER: Final = "Nats-Schedule-Next"
# Firings handled at once: a job's first step may wait for a model, other schedules' firings should not.
_IN_FLIGHT: Final = 16


def firing_job_id(stream_seq: int) -> str:
    return derived_id(f"{SCHEDULES_STREAM}:{stream_seq}", "schedule-firing")


def server_next(headers: dict[str, str]) -> tuple[datetime | None, bool]:
    """The next run the server announces, and whether this was the last firing (`purge`: an @at)."""
    raw = headers.get(NEXT_HEADER, "")
    if raw == "purge":
        return None, True
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")), False
    except ValueError:
        return None, False


class ScheduleFirings:
    def __init__(
        self,
        bus: Bus,
        store: ScheduleStore,
        jobs: JobStore,
        chat_in: Handler,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.jobs = jobs
        self.chat_in = chat_in
        self._now = now or (lambda: datetime.now(UTC))

    async def run(self, stopping: asyncio.Event) -> None:
        await RawPullConsumer(self.bus, PLANNER_SCHEDULES, self.fire, max_in_flight=_IN_FLIGHT).run(stopping)

    async def fire(self, firing: RawMessage, delivery: Delivery) -> None:
        """Handle one firing: start its job, or skip or drop it."""
        schedule_id = firing.subject.rsplit(".", 1)[-1]
        schedule = await self.store.get(schedule_id)
        if schedule is None or schedule.paused:
            log.info("firing of %s dropped: %s", schedule_id, "paused" if schedule else "no such schedule")
            return
        job_id = firing_job_id(delivery.stream_seq)
        next_run, last = server_next(firing.headers)
        waiting = await self._unfinished(schedule, job_id)
        if waiting is not None:
            await self._skip(schedule, waiting, job_id, next_run, last)
            return

        def ran(current: Schedule) -> Schedule:
            runs = current.runs + (0 if current.last_job_id == job_id else 1)
            return current.model_copy(
                update={
                    "last_run": firing.stored_at,
                    "last_job_id": job_id,
                    "runs": runs,
                    "next_run": next_run,
                    "done": last,
                    "updated_at": self._now(),
                }
            )

        await self.store.update(schedule_id, ran)
        body = ChatIn(
            message=schedule.message,
            user_id=schedule.owner,
            caller_role=schedule.owner_role,
            twin_id=schedule.twin_id,
        )
        event = Envelope[Any](
            id=job_id,
            type=CHAT_IN,
            session_id=schedule.session_id,
            job_id=job_id,
            twin_id=schedule.twin_id,
            body=body,
        )
        await self.chat_in(event, delivery)
        job = await self.jobs.get(schedule.session_id, job_id)
        if job is not None:
            note = f"scheduled by {schedule.id} ({schedule.spec}) for {schedule.owner}: {schedule.message[:200]}"
            await self.bus.publish(emit.log(job, job_id, "scheduled", note, level="info"))

    async def _unfinished(self, schedule: Schedule, job_id: str) -> JobRecord | None:
        """The schedule's last job if it has not finished (and is not this firing's own)."""
        if schedule.last_job_id is None or schedule.last_job_id == job_id:
            return None
        last = await self.jobs.get(schedule.session_id, schedule.last_job_id)
        return last if last is not None and not last.finished else None

    async def _skip(
        self, schedule: Schedule, waiting: JobRecord, job_id: str, next_run: datetime | None, last: bool
    ) -> None:
        now = self._now()

        def skipped(current: Schedule) -> Schedule:
            return current.model_copy(
                update={
                    "skipped": current.skipped + 1,
                    "last_skipped_at": now,
                    "next_run": next_run,
                    "done": last,
                    "updated_at": now,
                }
            )

        await self.store.update(schedule.id, skipped)
        note = (
            f"schedule {schedule.id} fired, but its last job {waiting.job_id} is still {waiting.status}: "
            "this firing is skipped (no new job until that one finishes)"
        )
        await self.bus.publish(emit.log(waiting, job_id, "schedule-skipped", note, level="warn"))
