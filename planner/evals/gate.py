"""The eval gate: a self-improvement of a twin with an eval gate (`Twin.eval_gate`) is run against the
gate's set before anyone may approve it.

On approve.request of kind self_improve of a twin with an eval gate, read here and not taken from
the request's `eval_pending` (the asking planner may have read the twin up to its cache's age before
the gate was set, and such an approval would otherwise wait for an eval nobody runs): the approval record gets its eval
(`ApprovalRecord.eval`) as running, the set runs with the proposed prompt (run id derived from the
approval, so a redelivery finds the kept result instead of running again), and the record gets the
summary. Below the gate's `min_pass_rate` (or when the eval could not run and a rate is required)
the gate denies the approval itself: an ApprovalDecision from "eval-gate" saying the rate. The
planner refuses any approving decision while the eval is missing, running or not ok
(planner/actions.py `refuses_decision`); the gate only ever denies.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from bus_schemas import ActionSelfImprove, ApprovalDecision, ApprovalRequest, Envelope, derived_id
from bus_schemas.approval import ApprovalRecord
from bus_schemas.evals import EvalGate, EvalResult, EvalRun, EvalSummary
from bus_schemas.subjects import APPROVE_DECISION
from pagi.bus import Bus, Delivery
from records.approvals import ApprovalStore
from records.kvjson import ConcurrentUpdate
from records.twins import TwinError, TwinStore

from .runner import EvalRunner

log = logging.getLogger("planner.evals.gate")

GATE: Final = "eval-gate"
CAS_ATTEMPTS: Final = 5


def gate_run_id(approval_id: str) -> str:
    return derived_id(approval_id, "eval-gate")


def summary_of(result: EvalResult, gate: EvalGate) -> EvalSummary:
    required = gate.min_pass_rate
    ok = result.state == "done" and (required is None or result.pass_rate >= required)
    if required is None:
        ok = True  # shown beside the diff, never required
    return EvalSummary(
        set_id=result.set_id,
        run_id=result.run_id,
        state="failed" if result.state == "failed" else "done",
        passed=result.passed,
        total=len(result.cases),
        pass_rate=result.pass_rate,
        baseline_pass_rate=result.baseline_pass_rate,
        required=required,
        ok=ok,
        error=result.error,
    )


def denial_reason(summary: EvalSummary) -> str:
    if summary.state == "failed":
        return f"the eval against set {summary.set_id} could not run: {summary.error}"
    return (
        f"eval set {summary.set_id}: pass rate {summary.pass_rate:.0%} ({summary.passed}/{summary.total}) "
        f"is below the required {summary.required or 0:.0%}"
    )


class EvalGateHandler:
    def __init__(self, bus: Bus, approvals: ApprovalStore, twins: TwinStore, runner: EvalRunner) -> None:
        self.bus = bus
        self.approvals = approvals
        self.twins = twins
        self.runner = runner

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        body: ApprovalRequest = event.body
        if body.kind != "self_improve" or not isinstance(body.action, ActionSelfImprove):
            return
        record = await self.approvals.get(event.session_id, body.approval_id)
        if record is None:
            log.warning("eval gate: no approval %s in session %s", body.approval_id, event.session_id)
            return
        try:
            twin = await self.twins.get_or_default(record.twin_id)
        except TwinError:
            twin = None
        gate = twin.eval_gate if twin is not None else None
        if gate is None:
            if not body.eval_pending:
                return
            # The gate was removed since the approval was asked: nothing to wait for.
            await self._write(record, EvalSummary(set_id="", run_id="", state="done", ok=True, error="no eval gate"))
            return
        run_id = gate_run_id(record.approval_id)
        if record.eval is None or record.eval.state == "running":
            await self._write(
                record, EvalSummary(set_id=gate.set_id, run_id=run_id, state="running", required=gate.min_pass_rate)
            )
            run = EvalRun(
                run_id=run_id,
                set_id=gate.set_id,
                prompt=body.action.new_prompt,
                baseline=True,
                requested_by=GATE,
                approval_id=record.approval_id,
            )
            result = await self.runner.run(run, event.session_id, record.twin_id, event.id)
            summary = summary_of(result, gate)
            record = await self._write(record, summary)
        else:
            summary = record.eval
        if summary.ok is False and record.state == "pending":
            await self._deny(record, summary, event.id)

    async def _write(self, record: ApprovalRecord, summary: EvalSummary) -> ApprovalRecord:
        def change(current: ApprovalRecord) -> ApprovalRecord | None:
            return None if current.eval == summary else current.model_copy(update={"eval": summary})

        for attempt in range(CAS_ATTEMPTS):
            try:
                return await self.approvals.update(record, change)
            except ConcurrentUpdate:
                if attempt + 1 == CAS_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _deny(self, record: ApprovalRecord, summary: EvalSummary, cause: str) -> None:
        decision = ApprovalDecision(
            approval_id=record.approval_id, approved=False, decided_by=GATE, reason=denial_reason(summary)[:4000]
        )
        await self.bus.publish(
            Envelope[Any](
                id=derived_id(record.approval_id, "eval-gate-denial"),
                type=APPROVE_DECISION,
                session_id=record.session_id,
                job_id=record.job_id,
                twin_id=record.twin_id,
                causation_id=cause,
                body=decision,
            )
        )
