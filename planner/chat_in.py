"""chat.in.<session>: a person's message starts a job with the twin it names — unless it is one of the
seed UI's reply markers (planner/markers.py), which decides the session's most recent matching
pending approval, recorded as made by the message's sender, or nothing (answered at once, saying
why; a marker is never planned). Only the session's owner (or an admin) gets a message into a
session: every edge door checks that (`records.access.may_use_session`) before it publishes.

A twin that does not exist, or that the sender may not see (another user's private twin), is
answered by the default twin, and the job log says so in the same words for both: nobody learns
that someone else's private twin exists."""

from __future__ import annotations

from typing import Any

from bus_schemas import ApprovalDecision, ChatIn, Envelope, derived_id
from bus_schemas.jobs import JobRecord
from bus_schemas.subjects import APPROVE_DECISION
from bus_schemas.twin import Twin
from pagi.bus import Delivery
from records.access import Caller, may_see_twin
from records.twins import DEFAULT_TWIN_ID, TwinError

from . import emit
from .loop import Planner
from .markers import Marker, choose, parse


class ChatInHandler:
    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        body: ChatIn = event.body
        asked = event.twin_id or body.twin_id
        if self.planner.session_twins is not None:
            # A session handed to another twin (ActionHandoff) goes on with it.
            asked = await self.planner.session_twins.current(event.session_id, asked)
        now = self.planner._now()
        job = JobRecord(
            job_id=event.job_id or event.id,
            session_id=event.session_id,
            twin_id=asked or DEFAULT_TWIN_ID,
            user_id=body.user_id,
            message=body.message,
            replay=body.replay,
            attachments=body.attachments,
            created_at=now,
            updated_at=now,
        )
        try:
            twin = await self._twin(asked, body)
        except TwinError as exc:
            job = await self.planner.jobs.create(job)
            await self.planner.finish(job, event.id, f"Cannot start: {exc}.", "failed")
            return
        job = job.model_copy(update={"twin_id": twin.id, "prompt_version": twin.prompt_version})
        notes: list[Envelope[Any]] = []
        if asked is not None and twin.id != asked:
            note = f"unknown twin {asked!r}: answered by the default twin {twin.id!r}"
            notes.append(emit.log(job, event.id, "unknown-twin", note, level="warn"))
        marker = parse(body.message)
        if marker is not None:
            await self._marker(event, body, job, marker, notes)
            return
        if notes:
            await self.planner.bus.publish_all(*notes)
        await self.planner.start(job, twin, event.id)

    async def _twin(self, asked: str | None, body: ChatIn) -> Twin:
        """The twin named, if it exists and the sender may see it; else the default twin."""
        twins = self.planner.twins
        if asked is None or asked == DEFAULT_TWIN_ID:
            return await twins.get_cached(DEFAULT_TWIN_ID)
        try:
            twin = await twins.get_cached(asked)
        except TwinError:
            return await twins.get_cached(DEFAULT_TWIN_ID)
        # A message nobody is named in is a bus client's (the operator's), as at the edge's doors.
        if body.user_id is None or may_see_twin(Caller(body.user_id, body.caller_role or "member"), twin.owner):
            return twin
        return await twins.get_cached(DEFAULT_TWIN_ID)

    async def _marker(
        self, event: Envelope[Any], body: ChatIn, job: JobRecord, marker: Marker, notes: list[Envelope[Any]]
    ) -> None:
        planner = self.planner
        decided_by = body.recorded_as or body.user_id
        if decided_by is None:
            why = f"{marker.label} names no sender, and a decision records who made it"
            record = None
        else:
            choice = choose(marker, await planner.approvals.pending(event.session_id), planner._now())
            record, why = choice.record, choice.why
        if record is None:
            # Answered as a job of its own (the HTTP doors wait for one), never planned.
            note = emit.log(job, event.id, "marker", f"seed marker decides nothing: {why}", level="warn")
            job = await planner.jobs.create(job)
            await planner.finish(job, event.id, f"Nothing was decided: {why}.", "failed", before=[*notes, note])
            return
        assert decided_by is not None
        decision = ApprovalDecision(
            approval_id=record.approval_id,
            approved=marker.kind.approved,
            decided_by=decided_by,
            reason=f"seed UI marker {marker.tag}",
        )
        translated = Envelope[Any](
            id=derived_id(event.id, "seed-marker"),
            type=APPROVE_DECISION,
            session_id=event.session_id,
            job_id=record.job_id,
            causation_id=event.id,
            twin_id=record.twin_id,
            body=decision,
        )
        waiting = JobRecord(
            job_id=record.job_id,
            session_id=record.session_id,
            twin_id=record.twin_id,
            message="",
            created_at=record.created_at,
            updated_at=record.created_at,
        )
        said = emit.log(waiting, event.id, "marker", f"seed marker from {decided_by}: {why}", level="info")
        await planner.bus.publish_all(said, translated)
