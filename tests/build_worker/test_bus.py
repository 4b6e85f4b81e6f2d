"""The build worker on a real nats-server: build.req in, build.result out, registry and object store
written, compiler output on the job log; then the tool worker runs the built tool."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from bus_schemas import Envelope
from bus_schemas.actions import ActionBuildTool
from bus_schemas.build import BuildRequest, BuildResult, BuildRunRecord
from bus_schemas.streams import ARTIFACTS, DONE, TOOLS
from bus_schemas.subjects import BUILD_REQ, BUILD_RESULT, JOB_LOG, one_session
from bus_schemas.tool import ToolRecord
from pagi.bus import Bus
from records.stores import digest_of

from ..support import EventCollector, ObserveFactory, eventually
from ..workers_support import StartWorker, approve, put_twin, result_for, run_event
from .conftest import StartBuilder

TOOL_CODE = "def main(args):\n    print('building is fun')\n    return {'sum': args['a'] + args['b']}\n"
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}


def build_event(session: str, request_id: str, approval_id: str | None, **fields: Any) -> Envelope[Any]:
    values: dict[str, Any] = {"tool_name": "adder", "language": "python", "code": TOOL_CODE, **fields}
    body = BuildRequest(request_id=request_id, approval_id=approval_id, **values)
    return Envelope[BuildRequest](type=BUILD_REQ, session_id=session, job_id="job-1", twin_id="orchestrator", body=body)


async def approved_build(bus: Bus, session: str, request_id: str, **fields: Any) -> Envelope[Any]:
    values: dict[str, Any] = {"tool_name": "adder", "language": "python", "code": TOOL_CODE, **fields}
    action = ActionBuildTool(
        tool_name=values["tool_name"], language=values["language"], code=values["code"], description=""
    )
    approval_id = await approve(bus, session, "build", action, request_id=request_id)
    return build_event(session, request_id, approval_id, **fields)


async def build_result(events: EventCollector, request_id: str, timeout: float = 30) -> BuildResult:
    found = await events.wait_for_count(
        lambda e: e.type == BUILD_RESULT and e.body.request_id == request_id, 1, timeout=timeout
    )
    body = found[-1].body
    assert isinstance(body, BuildResult)
    return body


async def test_build_registers_then_tool_worker_runs_it(
    bus: Bus,
    session_id: str,
    observe: ObserveFactory,
    start_builder: StartBuilder,
    start_worker: StartWorker,
) -> None:
    await put_twin(bus, allowed_tools=["adder"], always_allow=["adder"])
    events = await observe(one_session(session_id))
    await start_builder()
    await bus.publish(await approved_build(bus, session_id, "b1", args_schema=SCHEMA, description="adds"))
    result = await build_result(events, "b1")
    assert result.success, result
    assert (result.version, result.artifact_digest) == (1, digest_of(TOOL_CODE.encode()))
    record = await (await bus.kv(TOOLS)).get_model("adder", ToolRecord)
    assert record is not None and (record.kind, record.version, record.description) == ("built", 1, "adds")
    assert await (await bus.object_store(ARTIFACTS)).get(result.artifact_digest or "") == TOOL_CODE.encode()
    logs = [e.body.message for e in events.of_type(JOB_LOG)]
    assert "[build adder] syntax ok" in logs and "build adder: built" in logs
    done = await (await bus.kv(DONE)).get_model("build.b1", BuildRunRecord)
    assert done is not None and done.state == "done"

    # Always-allow is pinned to the artifact a human said "always" for (records.twins.allow_always).
    pins = {"adder": result.artifact_digest or ""}
    await put_twin(bus, allowed_tools=["adder"], always_allow=["adder"], always_allow_pins=pins)
    await start_worker()
    await bus.publish(run_event(session_id, "adder", {"a": 2, "b": 40}, None, "r-adder"))
    ran = await result_for(events, "r-adder")
    assert (ran.exit_code, ran.stdout) == (0, 'building is fun\n{"sum": 42}')
    bad = run_event(session_id, "adder", {"a": "two", "b": 40}, None, "r-bad")
    await bus.publish(bad)
    assert (await result_for(events, "r-bad")).reason == "invalid_arguments"


async def test_bad_name_gets_an_immediate_clear_result(
    bus: Bus, session_id: str, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_builder()
    await bus.publish(await approved_build(bus, session_id, "b-bad", tool_name="a;rm -rf /"))
    result = await build_result(events, "b-bad")
    assert not result.success and result.reason == "invalid_name"
    assert (result.error or "").startswith("invalid tool name 'a;rm -rf /'")


async def test_build_needs_approval_and_code_generation(
    bus: Bus, session_id: str, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    events = await observe(one_session(session_id))
    await put_twin(bus)
    await start_builder()
    await bus.publish(build_event(session_id, "b-noapp", None))
    result = await build_result(events, "b-noapp")
    assert result.reason == "not_approved" and "no approval id" in (result.error or "")
    await put_twin(bus, code_generation=False)
    await bus.publish(await approved_build(bus, session_id, "b-nocode"))
    result = await build_result(events, "b-nocode")
    assert result.reason == "not_allowed" and "code-generation policy is off" in (result.error or "")
    assert await (await bus.kv(TOOLS)).get("adder") is None


async def test_flood_of_build_requests_over_the_bus(
    bus: Bus, session_id: str, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_builder(BUILD_MAX_CONCURRENT=1, BUILD_MAX_PENDING=1)
    slow = "import time\ntime.sleep(0.5)\ndef main(args):\n    return 1\n"
    requests = [await approved_build(bus, session_id, f"f{i}", tool_name=f"flood-{i}", code=slow) for i in range(6)]
    for request in requests:
        await bus.publish(request)
    results = [await build_result(events, f"f{i}") for i in range(6)]
    full = [r for r in results if r.reason == "queue_full"]
    built = [r for r in results if r.success]
    assert (len(built), len(full)) == (2, 4)  # 1 running + 1 waiting; the rest refused at once
    assert all((r.error or "").startswith("build queue is full") for r in full)
    tools = await (await bus.kv(TOOLS)).keys()
    assert sorted(k for k in tools if k.startswith("flood-")) == sorted(r.tool_name for r in built)


async def test_two_build_workers_hand_out_each_version_once(
    bus: Bus, session_id: str, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_builder(BUILD_MAX_CONCURRENT=2)
    await start_builder(BUILD_MAX_CONCURRENT=2)  # a second copy sharing the durable consumer
    codes = [f"def main(args):\n    return {i}\n" for i in range(4)]
    requests = [await approved_build(bus, session_id, f"v{i}", tool_name="racer", code=c) for i, c in enumerate(codes)]
    for request in requests:
        await bus.publish(request)
    results = [await build_result(events, f"v{i}") for i in range(4)]
    assert all(r.success for r in results)
    assert sorted(r.version or 0 for r in results) == [1, 2, 3, 4]
    record = await (await bus.kv(TOOLS)).get_model("racer", ToolRecord)
    assert record is not None and record.version == 4


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_builds_are_counted_by_outcome_and_the_queue_depth_follows(
    bus: Bus, session_id: str, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    await start_builder()
    outcomes = ("ok", "failed", "rejected")
    builds = {o: sample("pagi_builds_total", language="python", outcome=o) for o in outcomes}
    depth = sample("pagi_build_queue_depth")
    slow = "import time\ntime.sleep(1)\ndef main(args):\n    return 1\n"
    await bus.publish(await approved_build(bus, session_id, "m-ok", tool_name="metered", code=slow))
    await eventually(lambda: sample("pagi_build_queue_depth") == depth + 1, what="the build counted in the queue")
    assert (await build_result(events, "m-ok")).success
    assert sample("pagi_build_queue_depth") == depth
    await bus.publish(await approved_build(bus, session_id, "m-failed", tool_name="broken", code="def main(:\n"))
    assert (await build_result(events, "m-failed")).reason == "compile_error"
    await bus.publish(await approved_build(bus, session_id, "m-rejected", tool_name="Bad Name"))
    assert (await build_result(events, "m-rejected")).reason == "invalid_name"
    after = {o: sample("pagi_builds_total", language="python", outcome=o) for o in outcomes}
    assert {o: after[o] - builds[o] for o in outcomes} == {"ok": 1, "failed": 1, "rejected": 1}
