"""The tool worker on a real nats-server with real bwrap: tool.run in, tool.result and job.log out."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from bus_schemas.actions import ActionTool
from bus_schemas.streams import DONE, TOOLS
from bus_schemas.subjects import JOB_LOG, one_session
from bus_schemas.tool import SANDBOX_STATUS_KEY, SandboxStatus, ToolRunRecord
from pagi.bus import Bus

from ..support import ObserveFactory
from ..workers_support import StartWorker, approve, approved_run, put_twin, result_for, run_event


async def test_approved_run_answers_and_streams_output(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_worker()
    await bus.publish(await approved_run(bus, session_id, "command_exec", {"cmd": "echo one; echo two > f"}, "r1"))
    result = await result_for(events, "r1")
    assert (result.exit_code, result.stdout, result.isolation) == (0, "one\n", "bwrap")
    assert result.files_changed == ["f"] and result.reason is None
    logs = [e.body for e in events.of_type(JOB_LOG)]
    assert any(b.level == "tool" and b.message == "[command_exec] one" for b in logs)
    assert any(b.message.startswith("running command_exec (isolation: bwrap)") for b in logs)
    record = await (await bus.kv(DONE)).get_model("tool.r1", ToolRunRecord)
    assert record is not None and record.state == "done" and record.result == result
    status = await (await bus.kv(TOOLS)).get_model(SANDBOX_STATUS_KEY, SandboxStatus)
    assert status is not None and status.isolation == "bwrap" and status.warning is None


async def test_redelivered_request_never_runs_twice(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_worker()
    first = await approved_run(bus, session_id, "command_exec", {"cmd": "echo ran >> count; wc -l < count"}, "r-once")
    await bus.publish(first)
    original = await result_for(events, "r-once")
    # The same request again under a new event id (a planner retry): answered from the record, not re-run.
    again = first.model_copy(update={"id": "retry-" + first.id[:20]})
    await bus.publish(again)
    repeated = await result_for(events, "r-once", count=2)
    assert repeated == original and original.stdout == "1\n"
    check = await approved_run(bus, session_id, "command_exec", {"cmd": "wc -l < count"}, "r-check")
    await bus.publish(check)
    assert (await result_for(events, "r-check")).stdout == "1\n"


async def test_run_interrupted_by_a_dead_worker_gets_a_clear_result(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus)
    # What a worker killed mid-run leaves behind: the claim, never completed.
    claim = ToolRunRecord(state="running", worker="dead-host")
    await (await bus.kv(DONE)).put("tool.r-dead", claim.model_dump_json().encode())
    events = await observe(one_session(session_id))
    await start_worker()
    await bus.publish(await approved_run(bus, session_id, "command_exec", {"cmd": "touch ran"}, "r-dead"))
    result = await result_for(events, "r-dead")
    assert result.reason == "interrupted" and "not run a second time" in (result.error or "")
    listing = await approved_run(bus, session_id, "list_files", {}, "r-ls")
    await bus.publish(listing)
    assert "ran" not in (await result_for(events, "r-ls")).stdout


@pytest.mark.parametrize(
    ("case", "reason", "message"),
    [
        ("no-approval", "not_approved", "no approval id"),
        ("pending", "not_approved", "is pending, not approved"),
        ("other-args", "not_approved", "was given for a different action"),
        ("not-allowed", "not_allowed", "is not among orchestrator's allowed tools"),
    ],
)
async def test_policy_is_rechecked_by_the_worker(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker, case: str, reason: str, message: str
) -> None:
    allowed = ["file_read"] if case == "not-allowed" else ["command_exec"]
    await put_twin(bus, allowed_tools=allowed)
    args = {"cmd": "touch ran"}
    approval_id: str | None = None
    if case == "pending":
        approval_id = await approve(bus, session_id, "tool", ActionTool(tool_name="command_exec", args=args), "pending")
    elif case == "other-args":
        approval_id = await approve(bus, session_id, "tool", ActionTool(tool_name="command_exec", args={"cmd": "ls"}))
    elif case == "not-allowed":
        approval_id = await approve(bus, session_id, "tool", ActionTool(tool_name="command_exec", args=args))
    events = await observe(one_session(session_id))
    await start_worker()
    await bus.publish(run_event(session_id, "command_exec", args, approval_id, "r-policy"))
    result = await result_for(events, "r-policy")
    assert result.reason == reason and message in (result.error or "")
    assert result.files_changed == [] and result.exit_code == -1


async def test_always_allowed_tool_runs_without_approval(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus, always_allow=["python"])
    events = await observe(one_session(session_id))
    await start_worker()
    await bus.publish(run_event(session_id, "python", {"code": "print(2 + 2)"}, None, "r-always"))
    assert (await result_for(events, "r-always")).stdout == "4\n"


async def test_required_sandbox_refuses_and_says_so(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_worker(PAGI_BWRAP="/nonexistent/bwrap", PAGI_REQUIRE_SANDBOX=True)
    await bus.publish(await approved_run(bus, session_id, "command_exec", {"cmd": "touch ran"}, "r-req"))
    result = await result_for(events, "r-req")
    assert (result.reason, result.isolation) == ("sandbox_required", "none")
    status = await (await bus.kv(TOOLS)).get_model(SANDBOX_STATUS_KEY, SandboxStatus)
    assert status is not None and status.isolation == "none" and status.require_sandbox
    assert status.warning and "WITHOUT isolation" in status.warning


async def test_a_result_never_outgrows_one_event(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus, always_allow=["python"])
    events = await observe(one_session(session_id))
    await start_worker()
    # Under the 1 MiB output cap, but control characters become six bytes of JSON each.
    code = "import sys\nsys.stderr.write('e' * 4096)\nsys.stderr.flush()\nsys.stdout.write('\\x01' * 900_000)"
    await bus.publish(run_event(session_id, "python", {"code": code}, None, "r-big"))
    result = await result_for(events, "r-big")
    assert result.truncated and result.stdout.endswith("[pagi: output truncated to fit one event]")
    assert len(result.model_dump_json()) <= 1024 * 1024 - 64 * 1024
    assert result.stderr == "e" * 4096


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_runs_are_counted_by_isolation_and_exit_and_timed(
    bus: Bus, session_id: str, observe: ObserveFactory, start_worker: StartWorker
) -> None:
    await put_twin(bus, always_allow=["command_exec"])
    events = await observe(one_session(session_id))
    await start_worker()
    runs = {exit: sample("pagi_tool_runs_total", isolation="bwrap", exit=exit) for exit in ("ok", "error", "refused")}
    timed = sample("pagi_tool_run_duration_seconds_count", isolation="bwrap")
    ok = run_event(session_id, "command_exec", {"cmd": "true"}, None, "r-m-ok")
    await bus.publish(ok)
    await bus.publish(run_event(session_id, "command_exec", {"cmd": "exit 3"}, None, "r-m-error"))
    await bus.publish(run_event(session_id, "no-such-tool", {}, None, "r-m-refused"))
    assert (await result_for(events, "r-m-ok")).exit_code == 0
    assert (await result_for(events, "r-m-error")).exit_code == 3
    assert (await result_for(events, "r-m-refused")).reason == "not_allowed"
    # Answered again from the done-ledger: not a second run, so not counted again.
    await bus.publish(ok.model_copy(update={"id": "retry-" + ok.id[:20]}))
    await result_for(events, "r-m-ok", count=2)
    after = {exit: sample("pagi_tool_runs_total", isolation="bwrap", exit=exit) for exit in runs}
    assert {exit: after[exit] - runs[exit] for exit in runs} == {"ok": 1, "error": 1, "refused": 1}
    assert sample("pagi_tool_run_duration_seconds_count", isolation="bwrap") - timed == 2  # the refused one never ran
