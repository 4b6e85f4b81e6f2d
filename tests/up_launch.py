"""`pagi up` from this checkout with an environment and flags of the test's choosing (the `pagi_up`
fixture in tests/conftest.py starts the plain one), and the service processes it supervises."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import psutil

from .ports import free_ports
from .up import Up

SERVICES = ("planner", "memory_worker", "tool_worker", "build_worker", "telemetry_agent", "edge")
CHECKOUT = Path(__file__).resolve().parent.parent


async def _spawn(
    data_dir: Path, env: Mapping[str, str] | None, args: tuple[str, ...]
) -> tuple[asyncio.subprocess.Process, int, int]:
    full_env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    full_env.update(env or {})
    web_port, nats_port = free_ports(2)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pagi_cli", "up",
        "--data-dir", str(data_dir), "--nats-port", str(nats_port), "--port", str(web_port), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=full_env, cwd=CHECKOUT,
    )  # fmt: skip
    return proc, web_port, nats_port


async def run_up_until_exit(
    data_dir: Path, env: Mapping[str, str] | None, args: tuple[str, ...], timeout: float
) -> tuple[asyncio.subprocess.Process, list[str]]:
    """`pagi up` that is expected to stop by itself: its exit and every line it printed."""
    proc, _, _ = await _spawn(data_dir, env, args)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc, out.decode(errors="replace").splitlines()


@asynccontextmanager
async def launch_up(
    data_dir: Path, env: Mapping[str, str] | None = None, args: tuple[str, ...] = (), ready_timeout: float = 120
) -> AsyncIterator[Up]:
    proc, web_port, nats_port = await _spawn(data_dir, env, args)
    up = Up(proc, web_port, nats_port, data_dir)
    try:
        await up.wait_line("PAGI is up at", timeout=ready_timeout)
        yield up
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def service_process(up: Up, name: str) -> psutil.Process | None:
    """The live process of service `name` under this `pagi up` (`python -m <name>`), if any."""
    for child in psutil.Process(up.proc.pid).children():
        try:
            cmdline = child.cmdline()
            if cmdline[-2:] == ["-m", name] and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.NoSuchProcess:
            continue
    return None
