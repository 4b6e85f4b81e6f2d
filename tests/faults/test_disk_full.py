"""The data directory fills up (a tiny tmpfs under nats-server's store): publishing is refused with
an error the sender sees, nothing accepted is lost, and once there is space again and nats-server
is restarted, every accepted message is answered exactly once.

(nats-server 2.15 marks a stream's file store with a "critical write error" on ENOSPC and keeps
refusing writes to it after space is freed, until it restarts: so the recovery step restarts it.)
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pagi.bus import Bus

from ..stack import Stack
from ..workload import Workload

SIZE = "64m"


@pytest.fixture
def small_disk(stack_root: Path) -> Iterator[Path]:
    data = stack_root / "data"
    data.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0711", "tmpfs", str(data)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        # The issue allows a skip only where the kernel refuses; the reason is the kernel's own.
        pytest.skip(f"the kernel refused a tmpfs for the data dir: {mounted.stderr.strip() or mounted.returncode}")
    yield data
    subprocess.run(["umount", "-l", str(data)], check=False)


def fill(path: Path) -> None:
    """Write zeros until the file system says ENOSPC."""
    done = subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M"], capture_output=True, text=True)
    assert "No space left on device" in done.stderr, done.stderr


async def test_a_full_data_disk_refuses_clearly_and_loses_nothing_accepted(stack_root: Path, small_disk: Path) -> None:
    stack = Stack(stack_root / "stack", data_dir=small_disk)
    await asyncio.to_thread(stack.start, ("planner",))
    bus = await Bus.connect(stack.nats.url, "fault-suite", connect_timeout_s=10)
    load = Workload(bus)
    await load.start()
    stop = asyncio.Event()
    sender = asyncio.create_task(load.run_steady(10, stop, kinds=("greeting",)))
    try:
        await load.wait_for(lambda: sum(1 for j in load.jobs.values() if j.answer) >= 10, 20, "answers")
        filler = small_disk / "filler"
        await asyncio.to_thread(fill, filler)
        await load.wait_for(lambda: load.refused >= 3, 40, "refusals while the disk is full")
        filler.unlink()
        await asyncio.to_thread(stack.nats.restart)
        accepted = len(load.jobs)
        await load.wait_for(lambda: len(load.jobs) >= accepted + 10, 40, "messages accepted again")
    finally:
        stop.set()
        await sender
    try:
        await load.verify(stack.data, timeout_s=90)
        assert all("Error" in r or "Unavailable" in r for r in load.refusals), load.refusals[:5]
        assert stack.services["planner"].proc is not None and stack.services["planner"].proc.poll() is None
    finally:
        await load.stop()
        await bus.close()
        await asyncio.to_thread(stack.stop)
