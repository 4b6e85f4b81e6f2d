"""Hostile build requests: bad names, builds that never end, floods. Each fails exactly, and the next works."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from build_worker.build_queue import BuildQueue
from build_worker.builder import Builder, BuildSpec
from records.tools import ToolRegistry
from sandbox import Sandbox

from ..fakes import DirBlobs
from ..support import eventually

OK_TOOL = "def main(args):\n    return 'ok'\n"


@pytest.fixture
def builder(sandbox: Sandbox, registry: ToolRegistry, blobs: DirBlobs) -> Builder:
    return Builder(sandbox, registry, blobs, BuildQueue(1, 4), timeout_s=1.5, rust_toolchain=None)


def build_dirs(builder: Builder) -> list[Path]:
    root = builder.builds.root
    return list(root.iterdir()) if root.exists() else []


async def assert_still_building(builder: Builder) -> None:
    outcome = await builder.build(BuildSpec("after-attack", "python", OK_TOOL))
    assert outcome.success and outcome.version is not None, outcome


@pytest.mark.parametrize(
    "name",
    ["../x", "a;rm -rf /", "A", "1abc", "", "x" * 65, "a/b", "a b", "tool$(id)", "python", "command_exec", ".hidden"],
)
async def test_bad_tool_names_are_rejected_before_any_file_is_written(
    builder: Builder, registry: ToolRegistry, name: str
) -> None:
    outcome = await builder.build(BuildSpec(name, "python", OK_TOOL))
    assert not outcome.success and outcome.reason == "invalid_name"
    assert (outcome.error or "").startswith(f"invalid tool name {name!r}")
    assert build_dirs(builder) == []
    assert (await registry.get(name) is None) or name in ("python", "command_exec")
    await assert_still_building(builder)


async def test_build_that_never_ends_is_killed_at_the_timeout(builder: Builder, registry: ToolRegistry) -> None:
    started = time.monotonic()
    outcome = await builder.build(BuildSpec("forever", "python", "while True:\n    pass\n"))
    assert not outcome.success and outcome.reason == "timeout"
    assert outcome.error == "build timed out: wall-clock timeout of 1.5 s reached; the process group was killed"
    assert time.monotonic() - started < 8  # bounded: a 1.5 s timeout, not the endless loop (slack for a busy machine)
    assert await registry.get("forever") is None
    assert build_dirs(builder) == []
    await assert_still_building(builder)


async def test_build_flood_gets_immediate_queue_full(builder: Builder, registry: ToolRegistry) -> None:
    slow = "import time\ntime.sleep(0.4)\ndef main(args):\n    return 'slow'\n"
    started = time.monotonic()
    finished_at: dict[int, float] = {}

    async def one(i: int) -> tuple[int, bool, str | None]:
        outcome = await builder.build(BuildSpec(f"flood-{i}", "python", slow))
        finished_at[i] = time.monotonic() - started
        return i, outcome.success, outcome.reason

    results = await asyncio.gather(*(one(i) for i in range(20)))
    accepted = [i for i, ok, _ in results if ok]
    rejected = [i for i, ok, reason in results if not ok and reason == "queue_full"]
    assert len(accepted) == 5 and len(rejected) == 15  # 1 running + 4 waiting
    first_build_done = min(finished_at[i] for i in accepted)
    assert all(finished_at[i] < first_build_done for i in rejected)  # refused at once, not after waiting
    for i in rejected:
        assert await registry.get(f"flood-{i}") is None
    for i in accepted:
        record = await registry.get(f"flood-{i}")
        assert record is not None and record.version == 1
    assert build_dirs(builder) == []
    assert (builder.queue.running, builder.queue.waiting) == (0, 0)
    await assert_still_building(builder)


async def test_queue_full_message(builder: Builder) -> None:
    gate = asyncio.Event()

    async def hold() -> None:
        async with builder.queue.slot():
            await gate.wait()

    holders = [asyncio.create_task(hold()) for _ in range(5)]
    # Every holder reaches its slot or the wait for one.
    await eventually(lambda: (builder.queue.running, builder.queue.waiting) == (1, 4), what="1 running, 4 waiting")
    outcome = await builder.build(BuildSpec("one-too-many", "python", OK_TOOL))
    assert outcome.reason == "queue_full"
    assert outcome.error == "build queue is full (1 running, 4 waiting); try again later"
    gate.set()
    await asyncio.gather(*holders)
    await assert_still_building(builder)


async def test_hostile_build_code_is_sandboxed(builder: Builder, registry: ToolRegistry) -> None:
    code = "import socket\nsocket.socket().connect(('1.1.1.1', 80))\ndef main(a):\n    pass\n"
    outcome = await builder.build(BuildSpec("netbuild", "python", code))
    assert outcome.reason == "compile_error"
    assert "OSError: [Errno 101] Network is unreachable" in (outcome.error or "")
    assert await registry.get("netbuild") is None
    await assert_still_building(builder)
