"""Workers' run usage: a tool run publishes one `usage.run` event (its wall time and sandboxed CPU), a
redelivered request none more, and the ledger adds it to the session's total; a run that overlapped
another reports no CPU rather than a share of the other's."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bus_schemas.subjects import USAGE_RUN, one_session
from bus_schemas.usage import RunUsage
from pagi.bus import Bus, PullConsumer
from sandbox.child_cpu import ChildCpu
from tool_worker.service import ToolWorker

from ..support import ObserveFactory, eventually
from ..workers_support import approved_run, put_twin, result_for
from .conftest import stored, total

# About a tenth of a second of CPU in the sandbox's shell, whatever the machine.
BURN = "i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done; echo counted"


async def test_a_tool_run_records_its_wall_time_and_cpu_once(
    bus: Bus, planner: list[PullConsumer], tool_worker: ToolWorker, observe: ObserveFactory, session_id: str
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    first = await approved_run(bus, session_id, "command_exec", {"cmd": BURN}, "r-usage")
    await bus.publish(first)
    result = await result_for(events, "r-usage")
    [usage] = [e for e in events.events if e.type == USAGE_RUN]
    assert isinstance(usage.body, RunUsage)
    assert (usage.body.kind, usage.body.name, usage.body.twin_id) == ("tool", "command_exec", "orchestrator")
    assert usage.body.wall_ms == result.duration_ms > 0
    assert usage.body.cpu_ms is not None and 10 < usage.body.cpu_ms <= usage.body.wall_ms + 5
    # The same request again under a new event id: answered from the done-ledger, nothing run or counted.
    await bus.publish(first.model_copy(update={"id": "retry-" + first.id[:20]}))
    await result_for(events, "r-usage", count=2)
    assert await stored(bus, f"{USAGE_RUN}.{session_id}") == 1
    day = datetime.now(UTC).date().isoformat()
    counted = await eventually(lambda: total(bus, f"{day}.session.{session_id}"), what="the session's total")
    assert counted is not None and counted.run_wall_ms == usage.body.wall_ms and counted.calls == 0
    assert (counted.run_cpu_ms, counted.cpu_measured_runs) == (usage.body.cpu_ms, 1)


async def burn(seconds: float) -> float | None:
    cpu = ChildCpu()
    code = f"import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    await proc.wait()
    return cpu.stop()


async def test_a_run_alone_is_measured_and_overlapping_runs_are_not() -> None:
    alone = await burn(0.2)
    assert alone is not None and 150 < alone < 2000
    both = await asyncio.gather(burn(0.2), burn(0.05))
    assert list(both) == [None, None]
    assert await burn(0.05) is not None  # the overlap ended with them
