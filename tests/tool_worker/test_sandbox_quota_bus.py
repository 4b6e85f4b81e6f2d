"""Over the bus, with the real tool worker: a run that grows an existing file past the workspace quota gets
a workspace_quota result saying exactly what was removed, and the next run finds the workspace under quota."""

from __future__ import annotations

from bus_schemas.subjects import one_session
from pagi.bus import Bus

from ..support import ObserveFactory
from ..workers_support import StartWorker, approved_run, put_twin, result_for

MIB = 1024 * 1024


async def test_quota_overrun_result_names_what_was_removed(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_worker(TOOL_WORKSPACE_QUOTA_BYTES=2 * MIB, TOOL_MAX_FILE_BYTES=16 * MIB)
    setup = "head -c 100000 /dev/zero > log; echo keep > notes"
    await bus.publish(await approved_run(bus, session_id, "command_exec", {"cmd": setup}, "q-setup"))
    assert (await result_for(events, "q-setup")).exit_code == 0
    grow = "head -c 6000000 /dev/zero >> log"
    await bus.publish(await approved_run(bus, session_id, "command_exec", {"cmd": grow}, "q-grow"))
    result = await result_for(events, "q-grow")
    assert result.reason == "workspace_quota" and result.files_removed == ["log"]
    assert result.error is not None and "log" in result.error and "newest first" in result.error
    await bus.publish(await approved_run(bus, session_id, "command_exec", {"cmd": "ls; du -sb ."}, "q-after"))
    after = await result_for(events, "q-after")
    assert after.stdout.splitlines()[0] == "notes" and after.reason is None
    assert int(after.stdout.splitlines()[1].split()[0]) < 2 * MIB
