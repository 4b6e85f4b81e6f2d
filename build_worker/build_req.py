"""build.req.<session> -> build.result.<session>: approval re-checked, once per request id, output streamed."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from bus_schemas import Envelope
from bus_schemas.build import BuildRequest, BuildResult, BuildRunRecord
from bus_schemas.fit import fit
from bus_schemas.subjects import BUILD_RESULT
from pagi.bus import Bus, Delivery, Reject
from pagi.joblog import LineStreamer
from records.access import Caller
from records.done import Ledger
from records.policy import PolicyError, check_build, malformed_request
from records.sessions import SessionOwners
from records.stores import KV
from records.usage import run_event

from .builder import Builder, BuildSpec
from .metrics import record_build
from .outcome import BuildOutcome

log = logging.getLogger("pagi.build_worker")

SERVICE = "build_worker"


def to_result(body: BuildRequest, outcome: BuildOutcome) -> BuildResult:
    return fit(
        BuildResult(
            request_id=body.request_id,
            tool_name=body.tool_name,
            success=outcome.success,
            exit_code=outcome.exit_code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            artifact_digest=outcome.artifact_digest,
            version=outcome.version,
            error=outcome.error,
            reason=outcome.reason,
        )
    )


class BuildReqHandler:
    def __init__(
        self,
        bus: Bus,
        builder: Builder,
        done: KV,
        twins: KV,
        approvals: KV,
        check_policy: bool = True,
        owners: SessionOwners | None = None,
    ) -> None:
        self.bus = bus
        self.builder = builder
        self.ledger: Ledger[BuildRunRecord, BuildResult] = Ledger(done, "build", BuildRunRecord, socket.gethostname())
        self.twins = twins
        self.approvals = approvals
        self.check_policy = check_policy
        self.owners = owners

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        body = event.body
        if not isinstance(body, BuildRequest):
            raise Reject(f"the build worker does not handle {event.type}")
        problem = malformed_request(body.request_id)
        if problem is not None:
            # Nothing to build and nothing to record in the ledger: the asker gets the reason now.
            outcome = BuildOutcome(success=False, reason="invalid_name", error=problem)
            await self._reply(event, to_result(body, outcome))
            return
        result = await self.ledger.once(body.request_id, lambda interrupted: self._result(event, body, interrupted))
        await self._reply(event, result)

    async def _result(self, event: Envelope[Any], body: BuildRequest, interrupted: bool) -> BuildResult:
        if interrupted:
            outcome = BuildOutcome(
                success=False,
                reason="interrupted",
                error="the build worker stopped during this build; nothing was registered. Ask for the build again",
            )
        else:
            outcome = await self._build(event, body)
        record_build(body.language, outcome)
        return to_result(body, outcome)

    async def _build(self, event: Envelope[Any], body: BuildRequest) -> BuildOutcome:
        decided_by: str | None = None
        if self.check_policy:
            try:
                approval = await check_build(
                    self.twins, self.approvals, event.session_id, event.twin_id, body.approval_id,
                    body.request_id, body.tool_name, body.language, body.code,
                )  # fmt: skip
            except PolicyError as exc:
                return BuildOutcome(success=False, reason=exc.reason, error=str(exc))
            decided_by = approval.decided_by
        spec = BuildSpec(
            tool_name=body.tool_name,
            language=body.language,
            code=body.code,
            description=body.description,
            args_schema=body.args_schema,
            entry_point=body.entry_point,
            builder=await self._builder(event.session_id, decided_by),
            twin_id=event.twin_id,
        )
        label = f"build {body.tool_name}"
        async with LineStreamer(self.bus.publish, event, SERVICE, label) as lines:
            queue = self.builder.queue
            await self.bus.publish(
                lines.event(
                    "queued",
                    f"{label} ({body.language}): {queue.running} running, {queue.waiting} waiting before it",
                    status="running",
                    progress=0.0,
                )
            )
            started = time.perf_counter()
            outcome = await self.builder.build(spec, on_output=lines.line)
            wall_ms = (time.perf_counter() - started) * 1000
            done = "built" if outcome.success else f"failed ({outcome.reason})"
            await self.bus.publish(lines.event("finished", f"{label}: {done}", progress=1.0))
        owner = spec.builder.user_id if spec.builder is not None else None
        await self.bus.publish(run_event(event, "build", body.tool_name, wall_ms, outcome.cpu_ms, owner))
        return outcome

    async def _builder(self, session_id: str, decided_by: str | None) -> Caller | None:
        """The tool's builder is the session's owner; an admin's approval (recorded "name (admin)"
        by records.access.Caller.as_recorded) lets the build replace another user's tool."""
        owner = await self.owners.owner(session_id) if self.owners is not None else None
        if owner is None:
            return None
        by_admin = decided_by is not None and decided_by.endswith(" (admin)")
        return Caller(owner, "admin" if by_admin else "member")

    async def _reply(self, event: Envelope[Any], result: BuildResult) -> None:
        await self.bus.publish(event.caused("result", BUILD_RESULT, result))
