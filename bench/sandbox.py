"""Tool-run overhead: `python -c pass` through the worker's sandbox call next to a bare subprocess.

Run: python -m bench.sandbox [--runs N]. Both sides spawn the same interpreter with the same command,
capture stdout/stderr through asyncio, and alternate run by run so machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tool_worker.limits import Limits
from tool_worker.sandbox import Sandbox, SandboxConfig

GOAL_RATIO = 1.5
GOAL_P50_MS = 25.0


async def bare(command: list[str]) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={}
    )
    await proc.communicate()
    return (time.perf_counter() - started) * 1000.0


async def sandboxed(sandbox: Sandbox, workspace: Path, command: list[str]) -> float:
    started = time.perf_counter()
    result = await sandbox.run(command, workspace)
    elapsed = (time.perf_counter() - started) * 1000.0
    if result.exit_code != 0:
        raise SystemExit(f"sandboxed run failed: {result}")
    return elapsed


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def measure(root: Path, runs: int) -> None:
    sandbox = Sandbox(SandboxConfig(state_dir=root / "state", limits=Limits()))
    isolation = sandbox.start()
    workspace = sandbox.workspaces.ensure("bench")
    command = [sandbox.config.python, "-c", "pass"]
    for _ in range(5):  # warm the page cache on both paths
        await bare(command)
        await sandboxed(sandbox, workspace, command)
    bare_ms: list[float] = []
    box_ms: list[float] = []
    for _ in range(runs):
        bare_ms.append(await bare(command))
        box_ms.append(await sandboxed(sandbox, workspace, command))

    b50, s50 = statistics.median(bare_ms), statistics.median(box_ms)
    ratio = s50 / b50
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, uid {os.geteuid()}"
    )
    print(f"command: {' '.join(command)}   runs: {runs} each, alternating   isolation: {isolation}")
    print(f"bare subprocess   p50 {b50:6.2f} ms   p90 {pct(bare_ms, 0.9):6.2f} ms")
    print(f"sandbox run()     p50 {s50:6.2f} ms   p90 {pct(box_ms, 0.9):6.2f} ms")
    print(f"overhead          {s50 - b50:6.2f} ms   ratio {ratio:.2f}")
    print(
        f"goal ratio <= {GOAL_RATIO}: {'hit' if ratio <= GOAL_RATIO else 'MISS'}; "
        f"goal p50 <= {GOAL_P50_MS:g} ms: {'hit' if s50 <= GOAL_P50_MS else 'MISS'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    bench_root = Path(tempfile.mkdtemp(prefix="pagi-bench-", dir="/tmp"))
    bench_root.chmod(0o711)  # the sandbox uid must reach its workspace
    try:
        asyncio.run(measure(bench_root, parser.parse_args().runs))
    finally:
        shutil.rmtree(bench_root, ignore_errors=True)
