"""What a worker's sandbox puts in its heartbeat (and so in /health): what is in force, not what was asked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import bus_schemas.heartbeat as hb
from pagi import heartbeat
from sandbox import disk
from sandbox.cgroups import cgroup_v2_status
from sandbox.settings import SandboxSettings, start_sandbox

KEYS = (
    hb.SANDBOX,
    hb.SANDBOX_REQUIRED,
    hb.SANDBOX_USERNS_DISABLED,
    hb.SANDBOX_SECCOMP,
    hb.SANDBOX_PIDS_SCOPE,
    hb.SANDBOX_CGROUP,
    hb.SANDBOX_WORKSPACES,
    hb.SANDBOX_FREE_BYTES,
    hb.SANDBOX_MIN_FREE_BYTES,
)


@pytest.fixture(autouse=True)
def clean_details() -> Iterator[None]:
    for key in KEYS:
        heartbeat._details.pop(key, None)
    yield
    for key in KEYS:
        heartbeat._details.pop(key, None)


def settings(state_dir: Path, **extra: object) -> SandboxSettings:
    return SandboxSettings.model_validate({"PAGI_DATA_DIR": str(state_dir), "TOOL_TIMEOUT_S": 4.0, **extra})


async def test_the_heartbeat_says_what_the_sandbox_enforces(state_dir: Path, sid: str) -> None:
    workspaces = state_dir / "elsewhere" / "workspaces"
    box = start_sandbox(settings(state_dir, PAGI_WORKSPACES_DIR=str(workspaces)), "tool_worker")
    try:
        details = heartbeat._details
        assert details[hb.SANDBOX] == "bwrap" and details[hb.SANDBOX_REQUIRED] is False
        assert details[hb.SANDBOX_USERNS_DISABLED] is True and details[hb.SANDBOX_SECCOMP] is True
        assert details[hb.SANDBOX_PIDS_SCOPE] == ("session_uid" if os.geteuid() == 0 else "worker_uid")
        assert details[hb.SANDBOX_CGROUP] == cgroup_v2_status()
        assert details[hb.SANDBOX_WORKSPACES] == str(workspaces.resolve()) == str(box.workspaces.root)
        assert details[hb.SANDBOX_MIN_FREE_BYTES] == disk.floor_bytes(workspaces, None) > 0
        heartbeat._details.pop(hb.SANDBOX_FREE_BYTES)
        result = await box.run(["/bin/sh", "-c", "head -c 3000000 /dev/zero > f"], box.workspaces.ensure(sid))
        assert result.ok, result.stderr
        # Refreshed by every run: within what other writers on this disk may have changed meanwhile.
        free = details[hb.SANDBOX_FREE_BYTES]
        assert isinstance(free, int) and abs(free - disk.free_bytes(workspaces)) < 64 * 1024**2
    finally:
        await box.close()


async def test_sessions_sharing_one_uid_are_reported_as_such(state_dir: Path) -> None:
    box = start_sandbox(settings(state_dir, PAGI_SANDBOX_UID_COUNT=0), "tool_worker")
    try:
        # A non-root worker has no uids to hand out at all: its scope is its own uid either way.
        root = os.geteuid() == 0
        assert heartbeat._details[hb.SANDBOX_PIDS_SCOPE] == ("shared_uid" if root else "worker_uid")
        assert box.pids_warning is not None
        assert ("PAGI_SANDBOX_UID_COUNT" if root else "not root") in box.pids_warning
    finally:
        await box.close()


def test_a_bad_uid_range_is_refused_with_its_setting_named(state_dir: Path) -> None:
    with pytest.raises(ValueError, match="PAGI_SANDBOX_UID_BASE"):
        settings(state_dir, PAGI_SANDBOX_UID_BASE=10)


def test_cgroup_detection_says_what_this_host_offers(tmp_path: Path) -> None:
    assert cgroup_v2_status(tmp_path) == "no cgroup v2 mount"
    (tmp_path / "pids").mkdir()
    assert cgroup_v2_status(tmp_path) == "no cgroup v2 mount (cgroup v1 host: not used)"
