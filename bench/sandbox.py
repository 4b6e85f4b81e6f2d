"""Tool-run overhead: `python -c pass` through the worker's sandbox call next to a bare subprocess.

Run: python -m bench.sandbox [--runs N]. Both sides spawn the same interpreter with the same command and
capture stdout/stderr through asyncio; they alternate run by run so machine noise hits them alike.

Two sandbox figures: `warm` is the worker as configured, where a run in a session that ran a tool before
finds a sandbox built ahead (the pool is settled before each timed run, so building the next slot never
overlaps a measurement); `cold` is the first run in a session (warm slots off), bubblewrap's full set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox import Limits, Sandbox, SandboxConfig
from sandbox.seccomp import compile_filter, filter_fd

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


def line(name: str, values: list[float]) -> str:
    return f"{name:<18} p50 {statistics.median(values):6.2f} ms   p90 {pct(values, 0.9):6.2f} ms"


async def measure(root: Path, runs: int, seccomp: bool, session_uids: bool) -> None:
    # --no-seccomp / --shared-uid turn one bound off, to measure what it costs.
    extra: dict[str, Any] = {"seccomp": seccomp}
    if not session_uids:
        extra["session_uids"] = None
    else:
        extra["uid_table"] = root / "uids.json"
    warm_box = Sandbox(SandboxConfig(state_dir=root / "warm", limits=Limits(), **extra))
    cold_box = Sandbox(SandboxConfig(state_dir=root / "cold", limits=Limits(), warm_slots=0, **extra))
    isolation = warm_box.start()
    cold_box.start()
    warm_ws, cold_ws = warm_box.workspaces.ensure("bench"), cold_box.workspaces.ensure("bench")
    command = [warm_box.config.python, "-c", "pass"]
    for _ in range(5):  # warm the page cache on every path
        await bare(command)
        await sandboxed(cold_box, cold_ws, command)
        await sandboxed(warm_box, warm_ws, command)
        await warm_box.pool.settle()
    bare_ms: list[float] = []
    warm_ms: list[float] = []
    cold_ms: list[float] = []
    for _ in range(runs):
        bare_ms.append(await bare(command))
        warm_ms.append(await sandboxed(warm_box, warm_ws, command))
        await warm_box.pool.settle()
        cold_ms.append(await sandboxed(cold_box, cold_ws, command))
    hits = warm_box.pool.hits
    await warm_box.close()

    b50, w50, c50 = (statistics.median(v) for v in (bare_ms, warm_ms, cold_ms))
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, uid {os.geteuid()}"
    )
    print(f"command: {' '.join(command)}   runs: {runs} each, interleaved   isolation: {isolation}")
    print(
        f"seccomp: {warm_box.seccomp_on}   userns disabled: {warm_box.userns_disabled}   "
        f"pids scope: {warm_box.pids_scope}   load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(line("bare subprocess", bare_ms))
    print(line("sandbox, warm", warm_ms) + f"   ratio {w50 / b50:.2f}   (warm slot used {hits - 5}/{runs})")
    print(line("sandbox, cold", cold_ms) + f"   ratio {c50 / b50:.2f}")
    for name, p50 in (("warm", w50), ("cold", c50)):
        ratio = p50 / b50
        print(
            f"{name}: goal ratio <= {GOAL_RATIO}: {'hit' if ratio <= GOAL_RATIO else 'MISS'}; "
            f"goal p50 <= {GOAL_P50_MS:g} ms: {'hit' if p50 <= GOAL_P50_MS else 'MISS'}"
        )


# Each bound this issue added, alone, on bare bubblewrap running /bin/true (as an unprivileged uid, as the
# worker runs it): (options before the namespaces, options after the mounts, with the seccomp filter).
OPTION_VARIANTS: dict[str, tuple[list[str], list[str], bool]] = {
    "none of them": ([], [], False),
    "--remount-ro /": ([], ["--remount-ro", "/"], False),
    "--disable-userns": (["--unshare-user", "--disable-userns"], [], False),
    "--seccomp": ([], [], True),
    "all three": (["--unshare-user", "--disable-userns"], ["--remount-ro", "/"], True),
}


def options_cost(runs: int, uid: int = 65534) -> None:
    program = compile_filter()
    bwrap = shutil.which("bwrap") or "bwrap"
    mounts = ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for name in ("bin", "lib", "lib64"):
        if os.path.islink(f"/{name}"):
            mounts += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
    times: dict[str, list[float]] = {name: [] for name in OPTION_VARIANTS}
    for _ in range(runs):
        for name, (early, late, with_filter) in OPTION_VARIANTS.items():
            fd = filter_fd(program) if with_filter else None
            argv = [bwrap, *early, "--unshare-all", "--as-pid-1", *mounts, *late]
            argv += [*(["--seccomp", str(fd)] if fd is not None else []), "--", "/bin/true"]
            started = time.perf_counter()
            try:
                subprocess.run(argv, user=uid, group=uid, extra_groups=[], pass_fds=(fd,) if fd else (), check=True)
            finally:
                if fd is not None:
                    os.close(fd)
            times[name].append((time.perf_counter() - started) * 1000.0)
    print(f"bare bwrap, /bin/true, {runs} runs each, interleaved, load average {os.getloadavg()[0]:.2f}")
    for name, values in times.items():
        print(line(name, values))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--no-seccomp", action="store_true", help="without the seccomp filter")
    parser.add_argument("--shared-uid", action="store_true", help="every session as one host uid (no uid table)")
    parser.add_argument("--options", action="store_true", help="the cost of each bwrap option alone, on /bin/true")
    args = parser.parse_args()
    if args.options:
        options_cost(args.runs)
        raise SystemExit(0)
    bench_root = Path(tempfile.mkdtemp(prefix="pagi-bench-", dir="/tmp"))
    bench_root.chmod(0o711)  # the sandbox uid must reach its workspace
    try:
        asyncio.run(measure(bench_root, args.runs, not args.no_seccomp, not args.shared_uid))
    finally:
        shutil.rmtree(bench_root, ignore_errors=True)
