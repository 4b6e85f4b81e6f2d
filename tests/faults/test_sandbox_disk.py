"""The workspaces' filesystem fills up (a small tmpfs the test mounts itself): a tool filling it is
stopped at the free-space floor, the next run is refused with an error naming the path, the free
bytes and the floor, and once space is freed runs go again."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sandbox import MIB, Limits, Sandbox, SandboxConfig, Workspaces, disk

from ..workers_support import sid, state_dir

__all__ = ["sid", "state_dir"]

FLOOR = 24 * MIB
# Writes 1 MiB at a time, up to 56 MiB on a 64 MiB disk: never reaching ENOSPC by itself before the floor.
FILLER = r"""
import os, time
with open("fill", "wb") as f:
    for _ in range(56):
        f.write(b"\0" * (1 << 20))
        f.flush()
        os.fsync(f.fileno())
        time.sleep(0.05)  # a steady writer: the watchdog polls every 0.25 s
print("wrote it all")
"""


@pytest.fixture
def small_disk(state_dir: Path) -> Iterator[Path]:
    mount_point = state_dir / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0711", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
async def boxed(state_dir: Path, small_disk: Path) -> AsyncIterator[Sandbox]:
    config = SandboxConfig(
        state_dir=state_dir / "state",
        workspaces_dir=small_disk / "workspaces",
        min_free_bytes=FLOOR,
        limits=Limits(timeout_s=20, cpu_s=10, workspace_quota_bytes=1024 * MIB, file_size_bytes=128 * MIB),
    )
    box = Sandbox(config)
    assert box.start() == "bwrap", box.warning
    yield box
    await box.close()


async def test_a_tool_filling_the_disk_is_stopped_at_the_floor(boxed: Sandbox, small_disk: Path, sid: str) -> None:
    assert boxed.workspaces.root == small_disk / "workspaces" and boxed.disk_floor == FLOOR
    ws = boxed.workspaces.ensure(sid)
    result = await boxed.run(["/usr/bin/python3", "-c", FILLER], ws)
    assert result.reason == "disk_full", result
    assert "wrote it all" not in result.stdout
    free = disk.free_bytes(small_disk)
    # Stopped within a watchdog poll of crossing the floor, far from the disk being full.
    assert 4 * MIB < free < FLOOR, free
    assert result.error is not None and str(boxed.workspaces.root) in result.error and str(FLOOR) in result.error

    refused = await boxed.run(["/bin/echo", "hi"], boxed.workspaces.ensure(f"{sid}-next"))
    assert (refused.reason, refused.exit_code, refused.stdout) == ("disk_full", -1, "")
    assert refused.error is not None
    assert str(boxed.workspaces.root) in refused.error
    assert f"has {disk.free_bytes(small_disk)} bytes free" in refused.error
    assert f"floor of {FLOOR} bytes" in refused.error

    (ws / "fill").unlink()
    after = await boxed.run(["/bin/echo", "hi"], ws)
    assert (after.exit_code, after.stdout, after.reason) == (0, "hi\n", None)


def test_the_default_floor_is_a_gibibyte_or_five_percent(small_disk: Path) -> None:
    assert disk.floor_bytes(small_disk, None) == int(64 * MIB * 0.05)
    assert disk.floor_bytes(small_disk, 123) == 123


async def test_the_floor_holds_for_a_workspace_beside_the_session_workspaces(
    state_dir: Path, small_disk: Path, sid: str
) -> None:
    # As the build worker's build directories: on the data disk, while the session workspaces are elsewhere.
    box = Sandbox(SandboxConfig(state_dir=state_dir / "state", min_free_bytes=FLOOR, warm_slots=0))
    assert box.start() == "bwrap", box.warning
    try:
        builds = Workspaces(small_disk / "builds", box.config.host_user)
        build_dir = builds.ensure(sid)
        (small_disk / "other-writer").write_bytes(b"\0" * (48 * MIB))  # someone else fills the disk
        refused = await box.run(["/bin/echo", "hi"], build_dir)
        assert refused.reason == "disk_full" and refused.error is not None
        assert str(small_disk / "builds") in refused.error
        session = await box.run(["/bin/echo", "hi"], box.workspaces.ensure(sid))
        assert (session.exit_code, session.reason) == (0, None)
    finally:
        await box.close()
