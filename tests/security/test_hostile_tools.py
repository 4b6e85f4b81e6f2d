"""Hostile tools must fail safely, with the exact failure, and the worker must serve the next request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import Bind, Sandbox
from tool_worker.runner import ToolRunner

from ..support import eventually

# This checkout, wherever it is: a tool must not see the source (or the data dir beside it) of the worker.
CHECKOUT = Path(__file__).resolve().parents[2]
CHECKOUT_FILE = CHECKOUT / "pyproject.toml"


def host_has(path: str) -> bool:
    return os.path.exists(path)


async def assert_still_serving(runner: ToolRunner, sid: str) -> None:
    after = await runner.run(sid, "command_exec", {"cmd": "echo still-serving"})
    assert (after.exit_code, after.stdout, after.reason) == (0, "still-serving\n", None), after


async def test_network_socket_is_unreachable(runner: ToolRunner, sid: str) -> None:
    code = "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))\n"
    result = await runner.run(sid, "python", {"code": code})
    assert result.exit_code == 1
    assert "OSError: [Errno 101] Network is unreachable" in result.stderr
    interfaces = await runner.run(sid, "command_exec", {"cmd": "cat /proc/net/dev | tail -n +3 | cut -d: -f1"})
    assert interfaces.stdout.split() == ["lo"]
    await assert_still_serving(runner, sid)


async def test_dns_and_loopback_to_host_services_fail(runner: ToolRunner, sid: str) -> None:
    code = "import socket\ns = socket.socket()\ns.settimeout(1)\nprint(s.connect_ex(('127.0.0.1', 22)))\n"
    result = await runner.run(sid, "python", {"code": code})
    # The sandbox's own loopback: nothing of the host listens there.
    assert result.stdout.strip() == "111"  # ECONNREFUSED
    await assert_still_serving(runner, sid)


def reveal(path: str) -> str:
    quoted = shlex.quote(path)
    return f"cat {quoted} || ls {quoted}"


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/ssh", "/root/.bashrc", "/home", str(CHECKOUT_FILE)])
async def test_host_secrets_and_homes_are_not_there(runner: ToolRunner, sid: str, path: str) -> None:
    result = await runner.run(sid, "command_exec", {"cmd": reveal(path)})
    assert result.exit_code != 0
    assert "No such file or directory" in result.stderr
    assert result.stdout == ""
    await assert_still_serving(runner, sid)


async def test_the_checkout_probe_sees_the_checkout_when_it_is_mounted(sandbox: Sandbox, sid: str) -> None:
    # The check above could pass for the wrong reason (a command that never reads): the same command,
    # with the checkout's file mounted, does show it. A copy in a directory of its own, mounted at a
    # path of its own: the sandbox drops to an unprivileged host user, which may not traverse the
    # folders a checkout lives in (a fresh clone under a 0700 temporary directory), and a checkout
    # under /tmp would be hidden by the sandbox's own /tmp.
    assert CHECKOUT_FILE.is_file()
    with tempfile.TemporaryDirectory(prefix="pagi-probe-") as folder:
        os.chmod(folder, 0o755)
        copy = Path(folder) / CHECKOUT_FILE.name
        shutil.copyfile(CHECKOUT_FILE, copy)
        copy.chmod(0o644)
        result = await sandbox.run(
            ["/bin/sh", "-c", reveal(f"/checkout/{CHECKOUT_FILE.name}")],
            sandbox.workspaces.ensure(sid),
            binds=[Bind(Path(folder), "/checkout")],
        )
    assert (result.exit_code, result.stdout) == (0, CHECKOUT_FILE.read_text())


async def test_system_paths_are_read_only(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(sid, "command_exec", {"cmd": "touch /usr/evil; echo x > /etc/passwd; mkdir /evil"})
    assert result.stderr.count("Read-only file system") >= 2 or "Permission denied" in result.stderr
    assert not host_has("/usr/evil") and not host_has("/evil")
    await assert_still_serving(runner, sid)


async def test_write_outside_workspace_does_not_reach_the_host(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(sid, "command_exec", {"cmd": "echo pwned > /tmp/pagi-pwned && cat /tmp/pagi-pwned"})
    # /tmp is the sandbox's own tmpfs: the write succeeds there and vanishes with the run.
    assert result.stdout == "pwned\n"
    assert not host_has("/tmp/pagi-pwned")
    again = await runner.run(sid, "command_exec", {"cmd": "cat /tmp/pagi-pwned"})
    assert "No such file or directory" in again.stderr


async def test_dotdot_escape_is_refused(runner: ToolRunner, sid: str) -> None:
    for tool, args in [
        ("file_write", {"path": "../../etc/cron.d/evil", "content": "x"}),
        ("file_read", {"path": "../other-session/secret"}),
        ("list_files", {"path": ".."}),
    ]:
        result = await runner.run(sid, tool, args)
        assert result.reason == "path_escape", (tool, result)
        assert "uses '..' to leave the workspace" in (result.error or "")
    await assert_still_serving(runner, sid)


async def test_symlink_escape_is_refused(runner: ToolRunner, sid: str) -> None:
    other = sid + "-victim"
    await runner.run(other, "file_write", {"path": "secret.txt", "content": "victim data"})
    planted = await runner.run(
        sid, "command_exec", {"cmd": "ln -s /etc/shadow shadow; ln -s ../" + other + " victim; ls -l"}
    )
    assert planted.exit_code == 0
    shadow = await runner.run(sid, "file_read", {"path": "shadow"})
    assert (shadow.reason, shadow.error) == ("path_escape", "path escapes the workspace: shadow")
    victim = await runner.run(sid, "file_read", {"path": "victim/secret.txt"})
    assert (victim.reason, victim.error) == ("path_escape", "path escapes the workspace: victim/secret.txt")
    via_shell = await runner.run(sid, "command_exec", {"cmd": "cat victim/secret.txt"})
    assert via_shell.exit_code != 0 and "victim data" not in via_shell.stdout
    await assert_still_serving(runner, sid)


async def test_fork_bomb_is_contained(runner: ToolRunner, sandbox: Sandbox, sid: str) -> None:
    code = (
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print(n, e.errno)\n"
    )
    result = await runner.run(sid, "python", {"code": code})
    forked, errno = result.stdout.split()
    assert errno == "11"  # EAGAIN: RLIMIT_NPROC reached
    assert int(forked) < sandbox.config.limits.nproc
    shell_bomb = await runner.run(sid, "command_exec", {"cmd": "b() { b | b & }; b; sleep 1; echo survived"})
    assert "Cannot fork" in shell_bomb.stderr
    await assert_still_serving(runner, sid)


async def test_memory_bomb_hits_the_address_space_limit(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(
        sid, "python", {"code": "chunks = []\nwhile True:\n    chunks.append(bytearray(64 << 20))"}
    )
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("MemoryError")
    await assert_still_serving(runner, sid)


async def test_infinite_loop_hits_the_cpu_limit(runner: ToolRunner, sid: str) -> None:
    # A long wall clock, so the CPU limit is what stops it even when other work starves it of CPU.
    result = await runner.run(sid, "python", {"code": "while True:\n    pass"}, timeout_s=30)
    assert result.reason == "cpu_limit"
    # SIGXCPU at the soft limit; the tool is pid 1 of its namespace and ignores it, so SIGKILL at the hard one.
    assert result.exit_code in (128 + 24, 128 + 9)
    assert result.error == "CPU time limit of 1 s reached; the process was killed"
    await assert_still_serving(runner, sid)


async def test_sleeping_forever_hits_the_wall_clock(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(sid, "command_exec", {"cmd": "sleep 1000"}, timeout_s=1.0)
    assert result.reason == "timeout" and result.exit_code == 137
    assert result.duration_ms < 6000  # a 1 s timeout, not the 1000 s sleep (slack for a busy machine)
    await assert_still_serving(runner, sid)


async def test_hundred_megabytes_of_output_is_truncated(runner: ToolRunner, sandbox: Sandbox, sid: str) -> None:
    result = await runner.run(sid, "command_exec", {"cmd": "head -c 100000000 /dev/zero | tr '\\0' x"})
    assert result.truncated is True and result.reason == "output_limit"
    limit = sandbox.config.limits.output_bytes
    assert len(result.stdout) == limit + len("\n[pagi: output truncated]")
    assert result.duration_ms < 8000
    await assert_still_serving(runner, sid)


async def test_disk_filler_hits_the_file_size_limit(runner: ToolRunner, sandbox: Sandbox, sid: str) -> None:
    result = await runner.run(sid, "command_exec", {"cmd": "head -c 1000000000 /dev/zero > big"})
    assert result.reason == "file_size_limit"
    assert not (sandbox.workspaces.path(sid) / "big").exists() or (
        (sandbox.workspaces.path(sid) / "big").stat().st_size == sandbox.config.limits.file_size_bytes
    )
    await assert_still_serving(runner, sid)


async def test_tool_cannot_signal_or_see_host_processes(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(sid, "command_exec", {"cmd": "ls /proc | grep -c '^[0-9]'; kill -9 1; echo $?"})
    visible = int(result.stdout.split()[0])
    assert visible <= 3  # the tool's own shell and its children only
    await assert_still_serving(runner, sid)


async def test_limits_apply_per_run_after_hostile_runs(runner: ToolRunner, sandbox: Sandbox, sid: str) -> None:
    small = replace(sandbox.config.limits, timeout_s=2.0)
    assert small.timeout_s == 2.0
    results = [await runner.run(sid, "command_exec", {"cmd": f"echo {i}"}) for i in range(5)]
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(5)]


async def test_memory_backed_dirs_are_bounded(runner: ToolRunner, sandbox: Sandbox, sid: str) -> None:
    limit = sandbox.config.limits.tmp_bytes
    fill = "i=0; while [ $i -lt 12 ]; do head -c 16000000 /dev/zero > $1/f$i || exit 1; i=$((i+1)); done"
    for where in ("/tmp", "/dev/shm"):
        result = await runner.run(sid, "command_exec", {"cmd": f"set -- {where}; {fill}"})
        assert result.exit_code == 1 and "No space left on device" in result.stderr, (where, result)
    in_dev = await runner.run(sid, "command_exec", {"cmd": "echo x > /dev/evil; echo y > /dev/null; echo $?"})
    assert "Read-only file system" in in_dev.stderr and in_dev.stdout == "0\n"
    assert limit == 64 * 1024 * 1024
    await assert_still_serving(runner, sid)


WORKER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from sandbox import Sandbox, SandboxConfig

async def main() -> None:
    box = Sandbox(SandboxConfig(state_dir=Path(sys.argv[1])))
    box.start()
    await box.run(["/bin/sh", "-c", "touch started; exec sleep 300 # " + sys.argv[2]], box.workspaces.ensure("w"))

asyncio.run(main())
"""


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def nothing_runs_with(marker: str) -> Callable[[], bool]:
    def probe() -> bool:
        # Zombies waiting for the host's init to reap them have no cmdline any more.
        left = processes_with(marker)
        assert left == [], f"still running: {left}"
        return True

    return probe


async def test_sandbox_dies_with_a_killed_worker(state_dir: Path, sid: str) -> None:
    marker = f"pagi-orphan-check-{sid}"
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER_SCRIPT, str(state_dir / "w"), marker, cwd=str(CHECKOUT)
    )
    started = state_dir / "w" / "workspaces" / "w" / "started"
    await eventually(started.exists, timeout=10, what="the sandboxed tool to start")
    assert await asyncio.to_thread(processes_with, marker), "the sandboxed tool never started"
    worker.kill()  # SIGKILL: no clean-up code runs in the worker
    await worker.wait()
    # The kernel kills the sandbox within moments (bwrap --die-with-parent).
    await eventually(nothing_runs_with(marker), timeout=5, what="the sandbox to die with its worker")


@pytest.mark.parametrize("name", ["../x", "a;rm -rf /", "/bin/sh", "_sandbox", "python/../../x", ""])
async def test_hostile_tool_names_run_nothing(runner: ToolRunner, sid: str, name: str) -> None:
    result = await runner.run(sid, name, {"cmd": "touch pwned"})
    assert (result.reason, result.error) == ("unknown_tool", f"unknown tool {name!r}")
    listing = await runner.run(sid, "list_files", {})
    assert "pwned" not in listing.stdout


@pytest.mark.parametrize("delay_s", [0.0, 0.002, 0.01, 0.05])
async def test_a_run_cancelled_at_any_moment_leaves_nothing_running(sandbox: Sandbox, sid: str, delay_s: float) -> None:
    marker = f"pagi-cancel-check-{sid}-{delay_s}"
    ws = sandbox.workspaces.ensure(sid)
    task = asyncio.create_task(sandbox.run(["/bin/sh", "-c", f"exec sleep 300 # {marker}"], ws))
    await asyncio.sleep(delay_s)  # cancel during bwrap's set-up, or once the tool runs
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await eventually(nothing_runs_with(marker), timeout=5, what="the cancelled run to leave nothing running")
