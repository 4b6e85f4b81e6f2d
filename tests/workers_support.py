"""What the tool, build and security tests share: the real sandbox on a state directory the sandbox
uid can reach, the KV state a tool.run or build.req is checked against (a twin, a recorded approval),
and the tool worker started on the bus. The test packages' conftests take their fixtures from here,
so no test package imports another."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus_schemas import Envelope
from bus_schemas.actions import Action, ActionTool
from bus_schemas.approval import ApprovalKind, ApprovalRecord
from bus_schemas.streams import APPROVALS, TWINS
from bus_schemas.subjects import TOOL_RESULT, TOOL_RUN
from bus_schemas.tool import ToolResult, ToolRun
from bus_schemas.twin import Twin
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from records.tools import ToolRegistry
from sandbox import Limits, Sandbox, SandboxConfig
from tool_worker.artifacts import ArtifactCache
from tool_worker.builtins import BUILTIN_RECORDS
from tool_worker.runner import ToolRunner
from tool_worker.service import ToolWorker, open_tool_worker
from tool_worker.settings import ToolSettings

from .fakes import DirBlobs, MemoryKV
from .support import EventCollector

# Small enough that hostile cases end fast, large enough for a Python start on a busy 2-core machine.
TEST_LIMITS = Limits(timeout_s=6.0, cpu_s=1, address_space_bytes=512 * 1024 * 1024, nproc=32)

StartWorker = Callable[..., Any]


# The sandbox, without a bus.


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # pytest's tmp_path is private to root (0700); the sandbox runs as nobody and must traverse to its workspace.
    root = Path(tempfile.mkdtemp(prefix="pagi-sandbox-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def sandbox(state_dir: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(SandboxConfig(state_dir=state_dir / "state", limits=TEST_LIMITS))
    assert box.start() == "bwrap", f"bubblewrap must work on the test machine: {box.warning}"
    yield box
    await box.close()


@pytest.fixture
def blobs(state_dir: Path) -> DirBlobs:
    return DirBlobs(state_dir / "objects")


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(MemoryKV(), BUILTIN_RECORDS)


@pytest.fixture
def runner(sandbox: Sandbox, registry: ToolRegistry, blobs: DirBlobs, state_dir: Path) -> ToolRunner:
    return ToolRunner(sandbox, registry, ArtifactCache(blobs, sandbox.root / "artifacts"))


@pytest.fixture
def sid() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


# The KV state a worker re-checks its requests against.


async def put_twin(bus: Bus, twin_id: str = "orchestrator", **settings: Any) -> Twin:
    now = datetime.now(UTC)
    twin = Twin(id=twin_id, codename=twin_id, created_at=now, updated_at=now, **settings)
    await (await bus.kv(TWINS)).put(f"twin.{twin_id}", twin.model_dump_json().encode())
    return twin


async def approve(
    bus: Bus,
    session_id: str,
    kind: ApprovalKind,
    action: Action,
    state: str = "approved",
    twin_id: str = "orchestrator",
    request_id: str | None = None,
    policy: str = "test",
    **fields: Any,
) -> str:
    """An approval as the planner records it; approved for `request_id`, the one request it may run.
    `fields`: more of the record (e.g. a self-improvement's `eval`)."""
    approval_id = uuid.uuid4().hex[:16]
    now = datetime.now(UTC)
    record = ApprovalRecord(
        approval_id=approval_id,
        session_id=session_id,
        job_id="job-1",
        twin_id=twin_id,
        step=1,
        kind=kind,
        action=action,
        summary="test",
        reason="test",
        policy=policy,
        created_at=now,
        expires_at=now + timedelta(minutes=5),
        state=state,
        decided_by="tester" if state != "pending" else None,
        request_id=request_id if state == "approved" else None,
        **fields,
    )
    await (await bus.kv(APPROVALS)).put(f"{session_id}.{approval_id}", record.model_dump_json().encode())
    return approval_id


# The tool worker on the bus.


def sandbox_env(state_dir: Path) -> dict[str, Any]:
    """The sandbox settings a worker under test reads: its state in state_dir, short limits."""
    return {"PAGI_DATA_DIR": str(state_dir), "TOOL_TIMEOUT_S": 4.0, "TOOL_CPU_S": 2}


def tool_settings(state_dir: Path, **extra: Any) -> ToolSettings:
    return ToolSettings.model_validate({**sandbox_env(state_dir), **extra})


@pytest.fixture
async def start_worker(bus: Bus, state_dir: Path) -> AsyncIterator[StartWorker]:
    running: list[PullConsumer] = []
    workers: list[ToolWorker] = []

    async def start(**extra: Any) -> list[PullConsumer]:
        worker = await open_tool_worker(bus, tool_settings(state_dir, **extra))
        workers.append(worker)
        consumers = await start_routes(bus, worker.routes)
        running.extend(consumers)
        return consumers

    yield start
    for consumer in running:
        await consumer.stop()
    for worker in workers:
        await worker.close()


def run_event(session: str, tool: str, args: dict[str, Any], approval_id: str | None, request_id: str) -> Envelope[Any]:
    body = ToolRun(request_id=request_id, approval_id=approval_id, tool_name=tool, args=args)
    return Envelope[ToolRun](type=TOOL_RUN, session_id=session, job_id="job-1", twin_id="orchestrator", body=body)


async def approved_run(bus: Bus, session: str, tool: str, args: dict[str, Any], request_id: str) -> Envelope[Any]:
    approval_id = await approve(bus, session, "tool", ActionTool(tool_name=tool, args=args), request_id=request_id)
    return run_event(session, tool, args, approval_id, request_id)


async def result_for(events: EventCollector, request_id: str, count: int = 1, timeout: float = 20) -> ToolResult:
    found = await events.wait_for_count(
        lambda e: e.type == TOOL_RESULT and e.body.request_id == request_id, count, timeout=timeout
    )
    body = found[-1].body
    assert isinstance(body, ToolResult)
    return body
