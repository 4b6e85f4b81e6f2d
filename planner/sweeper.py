"""Time-based transitions no message triggers: approvals expiring, workers that do not answer.

Every planner copy runs it; compare-and-set on the records makes each transition happen once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bus_schemas import derived_id
from pagi.bus import Bus
from records import jobs as job_moves
from records.kvjson import ConcurrentUpdate

from . import emit
from .control import ControlHandler
from .loop import Planner
from .settings import PlannerSettings

log = logging.getLogger("planner.sweeper")


class Sweeper:
    def __init__(self, planner: Planner, control: ControlHandler, settings: PlannerSettings) -> None:
        self.planner = planner
        self.control = control
        self.settings = settings

    async def run(self, bus: Bus, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.sweep()
            except ConcurrentUpdate:
                pass  # another planner copy got there first
            except Exception:
                log.exception("sweep failed; trying again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.sweep_interval_s)

    async def sweep(self) -> None:
        planner = self.planner
        now = planner._now()
        for record in await planner.approvals.pending():
            if now >= record.expires_at:
                await self.control.expire(record)
        for job in await planner.jobs.waiting():
            if job.waiting_since is None or job.waiting_id is None:
                continue
            waited = (now - job.waiting_since).total_seconds()
            if waited >= self.settings.worker_timeout_s:
                twin = await planner.twins.get_or_default(job.twin_id)
                note = (
                    f"No {job.waiting_for} worker answered request {job.waiting_id} within "
                    f"{self.settings.worker_timeout_s:.0f} s; the step failed."
                )
                trigger_id = derived_id(job.waiting_id, "timeout")
                await planner.bus.publish(emit.log(job, trigger_id, "timeout", note, level="error"))
                await planner.observe(job, twin, job.steps[-1].step, note, trigger_id)
            elif waited >= self.settings.worker_warn_s and not job.warned:
                note = (
                    f"No {job.waiting_for} worker has answered in {waited:.0f} s; the request waits in its stream "
                    "and the job resumes when a worker is back."
                )
                await planner.bus.publish(emit.log(job, derived_id(job.waiting_id, "late"), "late", note, level="warn"))
                await planner.jobs.update(job, job_moves.warn_late(job.waiting_id))
