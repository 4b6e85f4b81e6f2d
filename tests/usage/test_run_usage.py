"""Workers' run usage: a tool run publishes one `usage.run` event (its wall time), a redelivered
request none more, and the ledger adds it to the session's total."""

from __future__ import annotations

from datetime import UTC, datetime

from bus_schemas.subjects import USAGE_RUN, one_session
from bus_schemas.usage import RunUsage
from pagi.bus import Bus, PullConsumer
from tool_worker.service import ToolWorker

from ..support import ObserveFactory, eventually
from ..workers_support import approved_run, put_twin, result_for
from .conftest import stored, total


async def test_a_tool_run_records_its_wall_time_once(
    bus: Bus, planner: list[PullConsumer], tool_worker: ToolWorker, observe: ObserveFactory, session_id: str
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    first = await approved_run(bus, session_id, "command_exec", {"cmd": "echo counted"}, "r-usage")
    await bus.publish(first)
    result = await result_for(events, "r-usage")
    [usage] = [e for e in events.events if e.type == USAGE_RUN]
    assert isinstance(usage.body, RunUsage)
    assert (usage.body.kind, usage.body.name, usage.body.twin_id) == ("tool", "command_exec", "orchestrator")
    assert usage.body.wall_ms == result.duration_ms > 0 and usage.body.cpu_ms is None
    # The same request again under a new event id: answered from the done-ledger, nothing run or counted.
    await bus.publish(first.model_copy(update={"id": "retry-" + first.id[:20]}))
    await result_for(events, "r-usage", count=2)
    assert await stored(bus, f"{USAGE_RUN}.{session_id}") == 1
    day = datetime.now(UTC).date().isoformat()
    counted = await eventually(lambda: total(bus, f"{day}.session.{session_id}"), what="the session's total")
    assert counted is not None and counted.run_wall_ms == usage.body.wall_ms and counted.calls == 0
