"""Warm slots: the next run in a workspace starts in a sandbox built ahead, and behaves the same."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from sandbox import Sandbox, SandboxConfig
from sandbox.process import running

from ..support import eventually
from ..workers_support import TEST_LIMITS

PROBE = "id -u; echo pid=$$; echo env=$(env | sort | tr '\\n' ' '); pwd; cat"


async def test_second_run_uses_a_warm_slot_and_sees_the_same_world(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    cold = await sandbox.run(["/bin/sh", "-c", PROBE], ws, stdin=b"in")
    await sandbox.pool.settle()
    warm = await sandbox.run(["/bin/sh", "-c", PROBE], ws, stdin=b"in")
    assert sandbox.pool.hits == 1
    assert cold.stdout == warm.stdout
    assert warm.stdout.startswith("65534\npid=1\n") and warm.stdout.endswith("/workspace\nin")


async def test_warm_runs_keep_every_limit(state_dir: Path, sid: str) -> None:
    # A long wall clock, so the CPU limit is what stops the spin even on a starved machine.
    sandbox = Sandbox(SandboxConfig(state_dir=state_dir / "long", limits=replace(TEST_LIMITS, timeout_s=30)))
    sandbox.start()
    ws = sandbox.workspaces.ensure(sid)
    await sandbox.run(["/bin/true"], ws)
    await sandbox.pool.settle()
    spin = await sandbox.run(["/usr/bin/python3", "-c", "while True: pass"], ws)
    assert sandbox.pool.hits == 1 and spin.reason == "cpu_limit"
    await sandbox.pool.settle()
    flood = await sandbox.run(["/usr/bin/yes"], ws)
    assert sandbox.pool.hits == 2 and flood.reason == "output_limit" and flood.truncated
    await sandbox.pool.settle()
    code = (
        "import os, time\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(9)\n"
        "except OSError as e:\n"
        "    print(e.errno)"
    )
    bomb = await sandbox.run(["/usr/bin/python3", "-c", code], ws)
    assert sandbox.pool.hits == 3 and "11" in bomb.stdout
    await sandbox.pool.settle()
    after = await sandbox.run(["/bin/echo", "ok"], ws)
    assert after.stdout == "ok\n"
    await sandbox.close()


async def test_runs_with_other_limits_or_mounts_start_cold(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    await sandbox.run(["/bin/true"], ws)
    await sandbox.pool.settle()
    await sandbox.run(["/bin/true"], ws, limits=replace(TEST_LIMITS, timeout_s=1.0))
    assert sandbox.pool.hits == 0
    big = "x" * 40_000
    await sandbox.run(["/bin/echo", big], ws)
    assert sandbox.pool.hits == 0


async def test_slots_expire_and_close_kills_them(state_dir: Path, sid: str) -> None:
    box = Sandbox(SandboxConfig(state_dir=state_dir / "s", limits=TEST_LIMITS, warm_max_age_s=0.2))
    box.start()
    ws = box.workspaces.ensure(sid)
    await box.run(["/bin/true"], ws)
    await box.pool.settle()
    slot = box.pool.slots[ws]
    await asyncio.wait_for(slot.proc.wait(), timeout=20)  # expired: killed by the pool
    assert ws not in box.pool.slots
    await box.run(["/bin/true"], ws)
    await box.pool.settle()
    slot = box.pool.slots[ws]
    await box.close()
    await asyncio.wait_for(slot.proc.wait(), timeout=20)
    assert box.pool.slots == {}


async def test_a_dead_slot_falls_back_to_a_cold_start(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    await sandbox.run(["/bin/true"], ws)
    await sandbox.pool.settle()
    slot = sandbox.pool.slots[ws]
    slot.proc.kill()  # bwrap gone; its launcher ends once the pool lets go of the slot's pipe
    await eventually(lambda: not running(slot.proc.pid), timeout=10, what="the killed bwrap to end")
    result = await sandbox.run(["/bin/echo", "cold again"], ws)
    assert result.stdout == "cold again\n" and sandbox.pool.hits == 0
    await asyncio.wait_for(slot.proc.wait(), timeout=20)
