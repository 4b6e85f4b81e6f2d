"""memory.result / tool.result / build.result: feed a worker's answer back into its job."""

from __future__ import annotations

import logging
from typing import Any

from bus_schemas import Envelope
from pagi.bus import Delivery

from .actions import kind_of
from .loop import ACTION, Planner

log = logging.getLogger("planner.results")


class ResultHandler:
    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        planner = self.planner
        body = event.body
        if event.job_id is None:
            log.warning("result %s carries no job id; ignored", body.request_id)
            return
        job = await planner.jobs.get(event.session_id, event.job_id)
        if job is None or job.finished:
            log.info("result for %s job %s ignored", "finished" if job else "unknown", event.job_id)
            if job is not None:
                await planner.resume_parent(job)
            return
        twin = await planner.twin_for(job)
        if planner.took(job, event.id):
            # A redelivery after this result was recorded: take (or repeat, deduplicated) the next step,
            # the one the result calls for if it calls for one.
            observed = next((s for s in job.steps if s.observed_by == event.id), None)
            then = None
            if observed is not None:
                then = kind_of(observed.action_type).follow_up(ACTION.validate_python(observed.action), body, twin)
            await planner.next_step(job, twin, event.id, event, then)
            return
        if job.waiting_id != body.request_id:
            log.info("stale result %s for job %s ignored", body.request_id, job.job_id)
            return
        step = job.steps[-1]
        kind = kind_of(step.action_type)
        action = ACTION.validate_python(step.action)
        text = kind.observe(action, body, twin)
        granted = kind.grants(body)
        if granted is not None and granted not in twin.allowed_tools:
            await planner.twins.allow_tool(twin.id, granted)
        then = kind.follow_up(action, body, twin)
        await planner.observe(job, twin, step.step, text, event.id, kind.cites(body), then)
