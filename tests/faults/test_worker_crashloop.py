"""A worker that keeps dying does not take the stack down: `pagi up` restarts it with backoff as many
times as it dies (it used to stop everything after five crashes in a minute), says so loudly once
per streak, reports it in /health with its exit code while the rest keeps serving, and the worker
is back in service once it stops dying."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from pagi_cli.supervisor import RestartPolicy

from ..support import eventually
from ..up import Up
from ..up_launch import launch_up, run_up_until_exit, service_process

# More than the five crashes in a minute after which the old supervisor gave up and stopped the stack.
KILLS = 7
FAST_RESTARTS = ("--restart-delay", "0.1", "--restart-delay-max", "2")


async def get_health(up: Up) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{up.url}/health") as response:
        body: dict[str, Any] = await response.json()
        return body


def respawned(up: Up, last_pid: int | None) -> psutil.Process | None:
    process = service_process(up, "memory_worker")
    return process if process is not None and process.pid != last_pid else None


async def chat(up: Up, message: str, session: str) -> str:
    payload = {"message": message, "twin_id": "orchestrator", "session_id": session}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{up.url}/v1/chat", json=payload, timeout=aiohttp.ClientTimeout(total=30)) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["response"])


def test_the_restart_delay_is_capped_and_never_runs_out() -> None:
    backoff = RestartPolicy().backoff
    delays = [backoff.delay(n) for n in range(1, 200)]
    assert delays[0] <= 1 and delays == sorted(delays)
    assert 30 <= delays[-1] <= 60  # a crash loop costs one start per cap, forever


@pytest.mark.timeout(240)
async def test_a_worker_killed_again_and_again_is_restarted_and_the_rest_keeps_serving(tmp_path: Path) -> None:
    env = {"PAGI_HEARTBEAT_S": "1"}
    async with launch_up(tmp_path / "data", env, FAST_RESTARTS) as up:
        assert "hello" in await chat(up, "hello", "crashloop")
        last_pid: int | None = None
        mark = len(up.lines)
        for n in range(1, KILLS + 1):
            # Killed again as soon as it is back, ready or not: a worker that dies at every start.
            process = await eventually(
                partial(respawned, up, last_pid), timeout=30, what=f"memory_worker started again ({n})"
            )
            assert process is not None
            last_pid = process.pid
            process.kill()
            line = await up.wait_line(f"(crash {n} in a row)", timeout=20, after=mark)
            assert "memory_worker exited with code -9; restarting in" in line, line

        async def reported() -> dict[str, Any] | None:
            body = await get_health(up)
            memory = body["services"]["memory_worker"]
            problems = [p for p in body["problems"] if p.startswith("memory_worker:")]
            if memory.get("supervisor", {}).get("crashes_in_a_row") == KILLS and problems:
                return {"body": body, "memory": memory, "problems": problems}
            return None

        seen = await eventually(reported, timeout=20, interval=0.05, what="/health reporting the crash loop")
        assert seen["body"]["status"] == "degraded"
        assert seen["memory"]["supervisor"]["last_exit_code"] == -9
        assert f"crash-looping ({KILLS} crashes in a row, last exit code -9)" in seen["problems"][0]

        # The rest of the stack served all along, and `pagi up` never gave up.
        assert up.proc.returncode is None
        assert "again" in await chat(up, "again", "crashloop")
        streak = up.lines[mark:]
        assert sum("memory_worker keeps crashing" in line for line in streak) == 1, "loud once per streak"
        assert not any("stopping:" in line or "stopped because" in line for line in streak)

        # It stops dying: it is back, /health is whole again, and memory questions get answers.
        async def whole() -> bool:
            body = await get_health(up)
            return bool(body["status"] == "ok")

        await eventually(whole, timeout=60, interval=0.2, what="/health ok once memory_worker stays up")
        assert "memory" in (await chat(up, "/memory crash loop", "crashloop")).lower()


async def test_only_a_start_that_never_gets_ready_stops_pagi_up(tmp_path: Path) -> None:
    # Below the agent's minimum: the telemetry agent refuses to start, every time (and only it reads it).
    env = {"TELEMETRY_INTERVAL_MS": "5"}
    args = ("--ready-timeout", "30", *FAST_RESTARTS)
    proc, lines = await run_up_until_exit(tmp_path / "data", env, args, timeout=100)
    output = "\n".join(lines)
    assert proc.returncode == 1, output[-3000:]
    stopped = next(line for line in lines if "stopped because" in line)
    assert "not ready within 30s: " in stopped and "telemetry_agent" in stopped, stopped
    assert "(crash 2 in a row)" in output  # restarted meanwhile, like any crash
    # Loud once: its own words, in the streak's first report.
    assert "telemetry_agent's last output before it exited" in output
    assert "TELEMETRY_INTERVAL_MS=5 is below the minimum of 100 ms" in output


async def test_the_bus_server_killed_is_started_again_and_the_stack_serves_again(tmp_path: Path) -> None:
    async with launch_up(tmp_path / "data", {"PAGI_HEARTBEAT_S": "1"}, FAST_RESTARTS) as up:
        [server] = [p for p in psutil.Process(up.proc.pid).children() if p.name() == "nats-server"]
        mark = len(up.lines)
        server.kill()
        await up.wait_line("nats-server exited with code -9; restarting in", timeout=20, after=mark)
        await up.wait_line("nats-server is back on", timeout=30, after=mark)

        async def answered() -> bool:
            try:
                return "hello" in await chat(up, "hello after the bus came back", "bus-back")
            except (AssertionError, aiohttp.ClientError):
                return False

        await eventually(answered, timeout=60, interval=0.5, what="a chat answered once the bus is back")
        assert up.proc.returncode is None
