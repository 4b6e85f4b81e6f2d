"""chat.in.<session>: a person's message starts a job — unless it is one of the seed UI's approval
markers for the session's one pending approval, which becomes an explicit decision, recorded as made
by the message's sender. Only the session's owner (or an admin) gets a message into a session: every
edge door checks that (`records.access.may_use_session`) before it publishes; a marker from nobody
named is ordinary text."""

from __future__ import annotations

import re
from typing import Any, Final

from bus_schemas import ApprovalDecision, ChatIn, Envelope, derived_id
from bus_schemas.jobs import JobRecord
from bus_schemas.subjects import APPROVE_DECISION
from pagi.bus import Delivery
from records.twins import DEFAULT_TWIN_ID, TwinError

from .loop import Planner

# `[TOOL_EXECUTED] <tool> ...`, `[TOOL_DENIED] <tool>`, `[MEMORY_SHOWN] <id>`, `[MEMORY_DENIED] <id>`
_SEED_MARKER: Final = re.compile(r"^\[(TOOL_EXECUTED|TOOL_DENIED|MEMORY_SHOWN|MEMORY_DENIED)\]\s+(\S+)")


class ChatInHandler:
    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        body: ChatIn = event.body
        if await self._seed_marker(event, body):
            return
        twin_id = event.twin_id or body.twin_id or DEFAULT_TWIN_ID
        now = self.planner._now()
        job = JobRecord(
            job_id=event.job_id or event.id,
            session_id=event.session_id,
            twin_id=twin_id,
            user_id=body.user_id,
            message=body.message,
            replay=body.replay,
            created_at=now,
            updated_at=now,
        )
        try:
            twin = await self.planner.twins.get_cached(twin_id)
        except TwinError as exc:
            job = await self.planner.jobs.create(job)
            await self.planner.finish(job, event.id, f"Cannot start: {exc}.", "failed")
            return
        await self.planner.start(job, twin, event.id)

    async def _seed_marker(self, event: Envelope[Any], body: ChatIn) -> bool:
        """Translate a seed marker into a decision only when it names the session's one pending approval."""
        match = _SEED_MARKER.match(body.message.strip())
        decided_by = body.recorded_as or body.user_id
        if match is None or decided_by is None:
            return False
        marker, target = match.groups()
        pending = await self.planner.approvals.pending(event.session_id)
        if len(pending) != 1:
            return False
        record = pending[0]
        action = record.action
        names = {getattr(action, "tool_name", None), record.approval_id}
        if marker.startswith("MEMORY"):
            names = {record.approval_id, getattr(action, "query", None), "memory"}
        if record.kind != ("memory" if marker.startswith("MEMORY") else "tool") or target not in names:
            return False
        decision = ApprovalDecision(
            approval_id=record.approval_id,
            approved=marker in ("TOOL_EXECUTED", "MEMORY_SHOWN"),
            decided_by=decided_by,
            reason=f"seed UI marker {marker}",
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
        await self.planner.bus.publish(translated)
        return True
