"""approve.decision.<session> and job.cancel.<session>: a human's say over a running job.

A decision is accepted once, for a pending approval of the same session that has not expired; any
other decision gets a clear error event and changes nothing. The approved action runs exactly once:
the approval's state is set by compare-and-set together with the id of the deciding event, so a
redelivery of that event re-publishes the same (deduplicated) request instead of a second run.

What an action's kind says about decisions (planner/actions.py): `refuses_decision` keeps an approval
pending with a clear error (a gated self-improvement until its eval passed; a denial is always
taken), and `ends_on_denial` makes a denial the job's answer (a budget: the budget is spent) instead
of a result the job decides on.
"""

from __future__ import annotations

from typing import Any

from bus_schemas import Action, ApprovalDecision, Envelope, derived_id
from bus_schemas.approval import ApprovalRecord
from bus_schemas.jobs import JobCancel, JobRecord
from bus_schemas.subjects import APPROVE_DECISION, JOB_CANCEL
from pagi import metrics
from pagi.bus import Delivery
from records import approvals as approval_moves
from records import jobs as job_moves

from . import emit, subjobs
from .actions import Unchangeable, kind_of
from .loop import ACTION, Planner


class ControlHandler:
    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        if event.type == APPROVE_DECISION:
            await self.decision(event)
        elif event.type == JOB_CANCEL:
            await self.cancel(event)

    async def _error(self, event: Envelope[Any], job_id: str | None, message: str) -> None:
        stub = JobRecord(
            job_id=job_id or event.job_id or event.id,
            session_id=event.session_id,
            twin_id=event.twin_id or "unknown",
            message="",
            created_at=event.ts,
            updated_at=event.ts,
        )
        await self.planner.bus.publish(emit.log(stub, event.id, "rejected", message, level="error"))

    async def decision(self, event: Envelope[Any]) -> None:
        body: ApprovalDecision = event.body
        planner = self.planner
        record = await planner.approvals.get(event.session_id, body.approval_id)
        if record is None:
            await self._error(event, None, f"no approval {body.approval_id} in session {event.session_id}")
            return
        if record.state != "pending":
            if record.decision_event_id != event.id:
                await self._error(event, record.job_id, f"approval {body.approval_id} was already {record.state}")
                return
        elif planner._now() >= record.expires_at:
            await self.expire(record)
            await self._error(event, record.job_id, f"approval {body.approval_id} expired at {record.expires_at}")
            return
        else:
            twin = await planner.twins.get_or_default(record.twin_id)
            refused = kind_of(record.action.action_type).refuses_decision(record, body.approved, twin)
            if refused is not None:
                # The approval stays pending: decided again once what it waits for is there.
                await self._error(event, record.job_id, f"approval {body.approval_id} not approved: {refused}")
                return
            try:
                changed = self._changed(record, body)
            except Unchangeable as exc:
                # Refused whole: the approval stays pending, to be decided again without the changes.
                await self._error(event, record.job_id, f"approval {body.approval_id} not decided: {exc}")
                return
            now = planner._now()
            if body.approved:
                settle = approval_moves.approve(body.decided_by, now, body.reason, event.id, changed)
            else:
                settle = approval_moves.deny(body.decided_by, now, body.reason, event.id)
            record = await planner.approvals.update(record, settle)
            if record.decision_event_id == event.id:
                metrics.APPROVALS.labels(record.state).inc()
            else:
                await self._error(event, record.job_id, f"approval {body.approval_id} was already {record.state}")
                return
        await self._carry_out(event, body, record)

    @staticmethod
    def _changed(record: ApprovalRecord, body: ApprovalDecision) -> Action | None:
        """The action as the person changed it (None: unchanged); Unchangeable when it cannot be."""
        if body.changes is None:
            return None
        if not body.approved:
            raise Unchangeable("changes come with an approval, not a denial")
        action = ACTION.validate_python(record.action.model_dump())
        changed: Action = kind_of(action.action_type).amend(action, body.changes)
        return ACTION.validate_python(changed.model_dump())

    async def _carry_out(self, event: Envelope[Any], body: ApprovalDecision, record: ApprovalRecord) -> None:
        planner = self.planner
        job = await planner.jobs.get(record.session_id, record.job_id)
        if job is None or job.finished:
            await self._error(event, record.job_id, f"job {record.job_id} is no longer running")
            if job is not None:
                await planner.resume_parent(job)
            return
        twin = await planner.twin_for(job)
        if planner.took(job, event.id):
            # A denial redelivered after it was recorded: take (or repeat, deduplicated) the next step.
            await planner.next_step(job, twin, event.id, None)
            return
        request_id = approval_moves.request_for(record.approval_id)
        if job.waiting_id not in (record.approval_id, request_id):
            # Already past this approval (a redelivery after the job moved on): nothing to repeat.
            return
        who = f"{record.decided_by}" + (f" ({record.decision_reason})" if record.decision_reason else "")
        if record.state == "approved":
            action = ACTION.validate_python(record.action.model_dump())
            kind = kind_of(action.action_type)
            standing = await kind.allow_always(planner.twins, twin, record) if body.always else None
            if standing is not None:
                await planner.bus.publish(emit.log(job, event.id, "always", standing, level="info"))
            if body.changes is not None:
                who += f", changed: {', '.join(sorted(body.changes.model_dump(exclude_none=True)))}"
                job = await planner.jobs.update(
                    job, job_moves.amend_step(record.step, action.model_dump(), planner._now())
                )
            await planner.bus.publish(emit.log(job, event.id, "approved", f"approved by {who}", status="running"))
            await planner.dispatch(job, twin, action, request_id, record.approval_id, event.id, record.decided_by)
        else:
            note = f"A human ({who}) denied this: {record.summary}"
            await planner.bus.publish(emit.log(job, event.id, "denied", note, level="warn", status="running"))
            action = ACTION.validate_python(record.action.model_dump())
            answer = kind_of(action.action_type).ends_on_denial(action)
            if answer is not None:
                await planner.finish(job, event.id, answer, "completed")
                return
            await planner.observe(job, twin, record.step, note, event.id)

    async def expire(self, record: ApprovalRecord) -> None:
        """Expire a pending approval and end its job, saying so."""
        planner = self.planner
        record = await planner.approvals.update(record, approval_moves.expire)
        if record.state != "expired":
            return
        metrics.APPROVALS.labels("expired").inc()
        job = await planner.jobs.get(record.session_id, record.job_id)
        if job is None or job.finished or job.waiting_id != record.approval_id:
            return
        trigger_id = derived_id(record.approval_id, "expired")
        message = (
            f"Approval {record.approval_id} expired at {record.expires_at:%Y-%m-%d %H:%M:%S} UTC; nothing was run."
        )
        await planner.finish(job, trigger_id, message, "failed")

    async def cancel(self, event: Envelope[Any]) -> None:
        body: JobCancel = event.body
        planner = self.planner
        job = await planner.jobs.get(event.session_id, body.job_id)
        if job is None:
            await self._error(event, body.job_id, f"no job {body.job_id} in session {event.session_id}")
            return
        if job.finished:
            await self._error(event, job.job_id, f"job {body.job_id} already {job.status}")
            return
        reason = f": {body.reason}" if body.reason else ""
        await self._cancel_tree(job, event.id, f"Cancelled by {body.requested_by}{reason}.", notify=True)

    async def _cancel_tree(self, job: JobRecord, trigger_id: str, message: str, notify: bool) -> None:
        """Cancel the job's sub-jobs (deepest first), then the job: a crash in between leaves the
        job running, so the redelivered cancel goes on down the tree."""
        planner = self.planner
        child_id = subjobs.running_child(job)
        if child_id is not None:
            child = await planner.jobs.get(job.session_id, child_id)
            if child is not None and not child.finished:
                why = f"Cancelled with the job that asked it ({job.job_id})."
                await self._cancel_tree(child, derived_id(trigger_id, "cancel-subjob"), why, notify=False)
        if job.waiting_for == "approval" and job.waiting_id:
            record = await planner.approvals.get(job.session_id, job.waiting_id)
            if record is not None and record.state == "pending":
                await planner.approvals.update(record, approval_moves.cancel)
        await planner.finish(job, trigger_id, message, "cancelled", notify=notify)
