"""One tool cannot take the stack down by filling a disk: the whole stack under `pagi up`, its data
directory (bus store, memory store) on a 150 MB tmpfs and the tool workspaces on a tmpfs of their
own (`PAGI_WORKSPACES_DIR`, the layout `pagi up` asks for when they share one). An approved
`command_exec` writes 180 MB: the run is stopped with a clear `disk_full` error, the next run is
refused with one, and the memory worker, the planner and the bus keep answering; the data disk
never saw the tool's bytes.

(Found: a tool that wrote 180 MB into the 150 MB data disk left JetStream unable to store anything
and the memory worker dying with SIGBUS, and `pagi up` then stopped the stack.)
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pagi.bus import Bus
from pagi_cli.layout import shared_disk_warning

from ..up import Up
from ..up_launch import launch_up
from ..workload import Workload

DATA_SIZE = "150m"
WORKSPACES_SIZE = "64m"
FILL = "for i in 1 2 3; do dd if=/dev/zero of={file}.$i bs=1M count=60; done"


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0711", "tmpfs", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    assert mounted.returncode == 0, f"this test mounts its own tmpfs (as root): {mounted.stderr.strip()}"


@pytest.fixture
def disks(stack_root: Path) -> Iterator[tuple[Path, Path]]:
    data, workspaces = stack_root / "data", stack_root / "workspaces"
    try:
        mount_tmpfs(data, DATA_SIZE)
        mount_tmpfs(workspaces, WORKSPACES_SIZE)
        yield data, workspaces
    finally:
        for path in (workspaces, data):
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def operator_url(up: Up) -> str:
    lines = (up.data_dir / "pagi.env").read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith("NATS_URL="))


async def chat(up: Up, message: str) -> str:
    payload = {"message": message, "twin_id": "orchestrator", "session_id": "disk-full-chat"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{up.url}/v1/chat", json=payload, timeout=aiohttp.ClientTimeout(total=30)) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["response"])


async def tool_result(load: Workload, job_id: str) -> Any:
    runs = {e.job_id: e.body.request_id for e in await load.stored("tool.run")}
    results = {e.body.request_id: e.body for e in await load.stored("tool.result")}
    return results[runs[job_id]]


@pytest.mark.timeout(300)
async def test_a_tool_filling_its_disk_is_stopped_and_the_stack_keeps_serving(disks: tuple[Path, Path]) -> None:
    data, workspaces = disks
    env = {"PAGI_WORKSPACES_DIR": str(workspaces), "PAGI_HEARTBEAT_S": "1"}
    async with launch_up(data, env) as up:
        assert not any("share the filesystem" in line for line in up.lines)
        data_free = free_bytes(data)
        bus = await Bus.connect(operator_url(up), "disk-full-stack", connect_timeout_s=10)
        load = Workload(bus, tool_cmd=FILL)
        await load.start()
        try:
            filler = await load.send("tool")
            assert filler is not None
            await load.wait_for(lambda: filler.answer is not None, 90, "the filling tool's answer")
            stopped = await tool_result(load, filler.job_id)
            assert stopped.reason == "disk_full", stopped
            assert "below the floor" in stopped.error and str(workspaces) in stopped.error, stopped.error

            refused = await load.send("tool")
            assert refused is not None
            await load.wait_for(lambda: refused.answer is not None, 60, "the next tool's answer")
            again = await tool_result(load, refused.job_id)
            assert again.reason == "disk_full" and "refusing to run" in again.error, again

            # The rest of the stack never noticed: memory answers, the planner answers, the bus stores.
            assert "memory" in (await chat(up, "/memory after the disk filled")).lower()
            assert "hello" in await chat(up, "hello after the disk filled")
            async with aiohttp.ClientSession() as http, http.get(f"{up.url}/health") as health:
                body = await health.json()
            assert body["services"]["memory_worker"]["status"] == "up", body["problems"]
            assert body["memory_store"]["status"] == "up", body["memory_store"]
            assert [p for p in body["problems"] if not p.startswith(("tool_worker", "build_worker"))] == []
            assert up.proc.returncode is None
            # Not one of the tool's 180 MB landed on the data disk (what the stack wrote meanwhile is small).
            assert data_free - free_bytes(data) < 16 * 1024**2
        finally:
            await load.stop()
            await bus.close()


def test_pagi_up_says_when_the_workspaces_share_the_data_disk(tmp_path: Path, stack_root: Path) -> None:
    warning = shared_disk_warning(tmp_path / "data", None)
    assert warning is not None and "PAGI_WORKSPACES_DIR" in warning and "share the filesystem" in warning
    own = stack_root / "own"
    mount_tmpfs(own, "1m")
    try:
        assert shared_disk_warning(tmp_path / "data", own) is None
    finally:
        subprocess.run(["umount", "-l", str(own)], check=False)
