"""Every resource a sandboxed run can use is bounded per run or per session, against real bubblewrap:
the root is read-only, nested user namespaces and the syscalls tools have no use for are refused,
one session cannot use up the process limit of another, and the workspace quota holds on the total."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sysconfig
from dataclasses import replace
from pathlib import Path

from sandbox import Sandbox, SandboxConfig
from sandbox import workspace as ws_mod
from tool_worker.runner import ToolRunner

from ..support import eventually
from ..workers_support import TEST_LIMITS

CHECKOUT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
PY = "/usr/bin/python3"

# Each blocked call, made directly (x86_64 numbers), printing `name errno` (0 when it succeeded).
SYSCALL_PROBE = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
calls = {
    "unshare_user": (272, 0x10000000),
    "unshare_mount": (272, 0x00020000),
    "mount": (165, b"none", b"/tmp", b"tmpfs", 0, None),
    "umount2": (166, b"/tmp", 0),
    "setns": (308, 0, 0),
    "ptrace_traceme": (101, 0, 0, 0, 0),
    "keyctl_session_id": (250, 0, -3, 0),
    "add_key": (248, b"user", b"k", b"v", 1, -3),
    "bpf": (321, 0, None, 0),
    "perf_event_open": (298, None, 0, -1, -1, 0),
    "userfaultfd": (323, 0),
    "process_vm_readv": (310, os.getpid(), None, 0, None, 0, 0),
    "pivot_root": (155, b"/tmp", b"/tmp"),
    "personality_no_aslr": (135, 0x0040000),
    "clone3": (435, None, 0),
}
for name, (nr, *args) in calls.items():
    ctypes.set_errno(0)
    ret = libc.syscall(nr, *args)
    print(name, 0 if ret >= 0 else ctypes.get_errno())
print("personality_query", 0 if libc.syscall(135, 0xFFFFFFFF) >= 0 else ctypes.get_errno())
"""
EPERM, ENOSYS = 1, 38


def probe_errnos(stdout: str) -> dict[str, int]:
    return {name: int(code) for name, code in (line.split() for line in stdout.splitlines())}


async def test_the_root_is_read_only(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    script = "mkdir /fill; dd if=/dev/zero of=/x bs=1M count=10; echo done"
    result = await sandbox.run(["/bin/sh", "-c", script], ws)
    # Both refused by the read-only root (mkdir quotes the path its own way, dd another).
    assert [line for line in result.stderr.splitlines() if line.endswith("Read-only file system")] == [
        line for line in result.stderr.splitlines() if "/fill" in line or "/x" in line
    ]
    assert "/fill" in result.stderr and "'/x'" in result.stderr
    assert result.stdout == "done\n"


async def test_every_writable_mount_has_a_bound(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    result = await sandbox.run(["/bin/cat", "/proc/self/mountinfo"], ws)
    assert result.exit_code == 0, result.stderr
    writable: dict[str, str] = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        mount_point, options = fields[4], fields[5].split(",")
        fs_type, super_options = fields[fields.index("-") + 1], fields[-1]
        if "rw" in options and fs_type not in ("proc", "devtmpfs") and not mount_point.startswith("/dev/"):
            writable[mount_point] = f"{fs_type} {super_options}"
    # /dev's device nodes are bound one by one (not storage); /dev/shm and /tmp are sized tmpfs; the
    # workspace is the quota'd bind; nothing else, / included, is writable.
    assert set(writable) <= {"/tmp", "/workspace"}, writable
    assert "size=" in writable["/tmp"]
    shm = [line for line in result.stdout.splitlines() if line.split()[4] == "/dev/shm"]
    assert shm and "size=" in shm[0].split()[-1]
    root = [line for line in result.stdout.splitlines() if line.split()[4] == "/"]
    assert root and "ro" in root[0].split()[5].split(",")


async def test_nested_user_namespaces_are_refused(sandbox: Sandbox, sid: str) -> None:
    assert sandbox.userns_disabled and sandbox.seccomp_on
    ws = sandbox.workspaces.ensure(sid)
    result = await sandbox.run(["/bin/sh", "-c", "unshare -r id; echo exit=$?"], ws)
    assert "unshare failed: Operation not permitted" in result.stderr
    assert "uid=0" not in result.stdout and "exit=1" in result.stdout


async def test_seccomp_refuses_what_tools_have_no_use_for(sandbox: Sandbox, sid: str) -> None:
    result = await sandbox.run([PY, "-c", SYSCALL_PROBE], sandbox.workspaces.ensure(sid))
    assert result.exit_code == 0, result.stderr
    errnos = probe_errnos(result.stdout)
    expected = {name: EPERM for name in errnos} | {"clone3": ENOSYS, "personality_query": 0}
    assert errnos == expected


async def test_a_warm_slot_has_the_same_bounds(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    assert (await sandbox.run(["/bin/true"], ws)).ok
    await sandbox.pool.settle()
    hits = sandbox.pool.hits
    probe = f"{SYSCALL_PROBE}\ntry:\n    os.mkdir('/fill')\nexcept OSError as exc:\n    print('mkdir', exc.errno)\n"
    result = await sandbox.run([PY, "-c", probe], ws)
    assert sandbox.pool.hits == hits + 1, "the second run of a session must use its warm slot"
    errnos = probe_errnos(result.stdout)
    assert errnos == {name: EPERM for name in errnos} | {"clone3": ENOSYS, "personality_query": 0, "mkdir": 30}


async def test_without_the_filter_the_same_calls_go_through(state_dir: Path, sid: str) -> None:
    # The control: these succeed in the same sandbox without the filter, so the filter is what refuses them.
    box = Sandbox(SandboxConfig(state_dir=state_dir / "plain", limits=TEST_LIMITS, seccomp=False))
    assert box.start() == "bwrap" and not box.seccomp_on
    try:
        result = await box.run([PY, "-c", SYSCALL_PROBE], box.workspaces.ensure(sid))
    finally:
        await box.close()
    errnos = probe_errnos(result.stdout)
    for name in ("ptrace_traceme", "keyctl_session_id", "add_key", "process_vm_readv", "personality_no_aslr"):
        assert errnos[name] != EPERM, (name, errnos)
    assert errnos["ptrace_traceme"] == 0 and errnos["keyctl_session_id"] == 0
    assert errnos["clone3"] != ENOSYS


async def test_real_programs_run_under_the_filter(runner: ToolRunner, sid: str) -> None:
    code = (
        "import json, subprocess, threading, multiprocessing.pool\n"
        "out = []\n"
        "t = threading.Thread(target=lambda: out.append(sum(range(1000))))\n"
        "t.start(); t.join()\n"
        "with multiprocessing.pool.ThreadPool(4) as pool: squares = pool.map(lambda x: x * x, range(8))\n"
        "child = subprocess.run(['/bin/sh', '-c', 'echo child'], capture_output=True, text=True).stdout.strip()\n"
        "print(json.dumps({'thread': out[0], 'squares': squares[-1], 'child': child}))\n"
    )
    python = await runner.run(sid, "python", {"code": code})
    assert (python.exit_code, python.reason) == (0, None), python.stderr
    assert json.loads(python.stdout) == {"thread": 499500, "squares": 49, "child": "child"}
    pipeline = (
        "seq 1 2000 | sort -rn | head -n 3 | tr '\\n' ' '; (sleep 0.1 & wait); echo; date +%Y >/dev/null && echo ok"
    )
    shell = await runner.run(sid, "command_exec", {"cmd": pipeline})
    assert (shell.exit_code, shell.stdout) == (0, "2000 1999 1998 \nok\n"), shell.stderr


def processes_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat(follow_symlinks=False).st_uid == uid
            except OSError:
                continue
    return count


# Forks 80 sleepers (beyond the run's process limit), reports how many the kernel refused, and keeps
# them until the test drops a file named `stop` in the workspace.
FORKER = r"""
import os, sys, time
started = refused = 0
children = []
for _ in range(80):
    try:
        pid = os.fork()
    except BlockingIOError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
    started += 1
print(started, refused, flush=True)
while not os.path.exists("stop"):
    time.sleep(0.05)
"""


async def test_one_session_cannot_use_up_the_process_limit_of_another(sandbox: Sandbox, sid: str) -> None:
    limits = replace(sandbox.config.limits, timeout_s=30.0, cpu_s=10)
    ws_a, ws_b = sandbox.workspaces.ensure(sid), sandbox.workspaces.ensure(f"{sid}-b")
    user_a, user_b = await sandbox.user_for(ws_a), await sandbox.user_for(ws_b)
    assert user_a is not None and user_b is not None and user_a != user_b
    assert sandbox.pids_scope == "session_uid"
    hog = asyncio.create_task(sandbox.run([PY, "-c", FORKER], ws_a, limits=limits))
    try:
        await eventually(lambda: processes_of(user_a[0]) >= limits.nproc - 1, timeout=15)
        other = await sandbox.run(["/bin/sh", "-c", "echo fine; (true &); wait"], ws_b)
        assert (other.exit_code, other.stdout, other.reason) == (0, "fine\n", None), other
    finally:
        (ws_a / "stop").touch()
        result = await hog
    started, refused = map(int, result.stdout.split())
    assert result.exit_code == 0, result.stderr
    # Session A's own extra processes were refused at its limit.
    assert refused > 0 and started < limits.nproc and started + refused == 80


async def test_a_sandbox_that_cannot_start_is_a_failed_run(sandbox: Sandbox, sid: str) -> None:
    # The session's uid already runs its whole process limit (outside any sandbox): bwrap cannot
    # create the sandbox's namespaces, and that is a spawn failure, never a run that ended by itself.
    ws = sandbox.workspaces.ensure(sid)
    user = await sandbox.user_for(ws)
    assert user is not None
    sleepers = [
        await asyncio.create_subprocess_exec("/bin/sleep", "30", user=user[0], group=user[1], extra_groups=[])
        for _ in range(sandbox.config.limits.nproc)
    ]
    try:
        result = await sandbox.run(["/bin/echo", "never"], ws)
    finally:
        for proc in sleepers:
            proc.kill()
            await proc.wait()
    assert result.reason == "spawn_failed" and not result.ok, result
    assert result.error is not None and "the sandbox could not be set up" in result.error
    assert "Resource temporarily unavailable" in result.error
    after = await sandbox.run(["/bin/echo", "back"], ws)
    assert (after.exit_code, after.stdout, after.reason) == (0, "back\n", None)


def small_range(state_dir: Path, count: int) -> SandboxConfig:
    # A range of its own, so other sandboxes of this host do not take part.
    base = 900_000 + (os.getpid() % 10_000) * 8
    return SandboxConfig(
        state_dir=state_dir / "small",
        limits=TEST_LIMITS,
        session_uids=(base, count),
        uid_table=state_dir / "uids.json",
        warm_slots=0,
    )


async def test_a_session_keeps_its_uid_and_its_workspace_follows_a_new_one(state_dir: Path, sid: str) -> None:
    box = Sandbox(small_range(state_dir, 2))
    assert box.start() == "bwrap", box.warning
    try:
        one, two, three = (box.workspaces.ensure(f"{sid}-{n}") for n in (1, 2, 3))
        first = await box.run(["/bin/sh", "-c", "mkdir -p d/e && echo x > d/e/f && ln -s /etc/passwd link"], one)
        assert first.exit_code == 0, first.stderr
        uid_one = await box.user_for(one)
        assert uid_one is not None and await box.user_for(one) == uid_one
        tree = [one, one / "d", one / "d" / "e", one / "d" / "e" / "f", one / "link"]
        assert {os.lstat(p).st_uid for p in tree} == {uid_one[0]}
        assert (await box.run(["/bin/true"], two)).ok
        # The range is full: the third session takes the least recently used idle uid, the first's.
        assert (await box.run(["/bin/true"], three)).ok
        assert await box.user_for(three) == uid_one
        # Meanwhile the first session's workspace is root's alone: the uid's new holder cannot enter it.
        assert (os.lstat(one).st_uid, os.lstat(one).st_mode & 0o777) == (0, 0o700)
        again = await box.run(["/bin/sh", "-c", "echo y >> d/e/f && cat d/e/f"], one)
        assert (again.exit_code, again.stdout) == (0, "x\ny\n"), again.stderr
        uid_again = await box.user_for(one)
        assert uid_again is not None and uid_again != uid_one
        assert {os.lstat(p).st_uid for p in tree} == {uid_again[0]}
        assert os.stat("/etc/passwd").st_uid == 0  # the symlink was not followed
    finally:
        await box.close()


async def test_a_uid_is_never_shared_with_a_session_that_runs(state_dir: Path, sid: str) -> None:
    box = Sandbox(small_range(state_dir, 1))
    assert box.start() == "bwrap", box.warning
    try:
        busy, other = box.workspaces.ensure(f"{sid}-busy"), box.workspaces.ensure(f"{sid}-other")
        waiting = asyncio.create_task(box.run(["/bin/sh", "-c", "while [ ! -e stop ]; do sleep 0.05; done"], busy))
        uid = await box.user_for(busy)
        assert uid is not None
        await eventually(lambda: processes_of(uid[0]) > 0, timeout=10)
        refused = await box.run(["/bin/echo", "no"], other)
        (busy / "stop").touch()
        assert (await waiting).ok
    finally:
        await box.close()
    assert refused.reason == "spawn_failed" and refused.exit_code == -1
    assert refused.error is not None and "PAGI_SANDBOX_UID_COUNT" in refused.error


async def test_quota_counts_growth_of_files_that_were_already_there(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    limits = replace(sandbox.config.limits, workspace_quota_bytes=2_000_000, file_size_bytes=8_000_000)
    setup = await sandbox.run(["/bin/sh", "-c", "head -c 100000 /dev/zero > old; echo keep > untouched"], ws)
    assert setup.ok, setup.stderr
    grow = "head -c 5000000 /dev/zero >> old"
    result = await sandbox.run(["/bin/sh", "-c", grow], ws, limits=limits)
    assert result.reason == "workspace_quota", result
    assert result.files_removed == ["old"] and "old" in (result.error or "")
    assert sorted(p.name for p in ws.iterdir()) == ["untouched"]
    assert ws_mod.total_bytes(ws_mod.snapshot(ws)) <= 2_000_000


async def test_quota_removes_newest_first_and_only_what_the_run_touched(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    limits = replace(sandbox.config.limits, workspace_quota_bytes=3_000_000, file_size_bytes=8_000_000)
    setup = await sandbox.run(["/bin/sh", "-c", "head -c 1000000 /dev/zero > before"], ws, limits=limits)
    assert setup.ok, setup.stderr
    script = (
        "head -c 1000000 /dev/zero > a; sleep 0.05; head -c 1000000 /dev/zero > b; sleep 0.05; "
        "head -c 1500000 /dev/zero > c"
    )
    result = await sandbox.run(["/bin/sh", "-c", script], ws, limits=limits)
    assert result.reason == "workspace_quota"
    assert result.files_removed == ["c"]
    assert sorted(p.name for p in ws.iterdir()) == ["a", "b", "before"]


# The worker side of a run, as an unprivileged worker would do it (no host_user: the sandbox runs as
# the worker's own uid): a tool hides a big file in a `chmod 000` directory.
HIDDEN_DIR_WORKER = r"""
import asyncio, json, sys
from pathlib import Path
from sandbox import Limits, Sandbox, SandboxConfig

async def main() -> None:
    box = Sandbox(SandboxConfig(state_dir=Path(sys.argv[1]), host_user=None, limits=Limits(
        timeout_s=10, workspace_quota_bytes=1_000_000, file_size_bytes=8_000_000)))
    assert box.start() == "bwrap", box.warning
    ws = box.workspaces.ensure("hider")
    result = await box.run(["/bin/sh", "-c", "mkdir h && head -c 3000000 /dev/zero > h/big && chmod 000 h"], ws)
    print(json.dumps({"reason": result.reason, "removed": result.files_removed, "error": result.error,
                      "pids_scope": box.pids_scope, "left": sorted(p.name for p in ws.iterdir())}))
    await box.close()

asyncio.run(main())
"""


# What `import sandbox` loads, from the checkout and from the venv.
SANDBOX_IMPORTS = (
    (CHECKOUT, ("sandbox", "bus_schemas")),
    (Path(SITE_PACKAGES), ("annotated_types", "msgpack", "orjson", "pydantic", "pydantic_core",
                           "typing_extensions.py", "typing_inspection", "pyseccomp.py")),
)  # fmt: skip


def readable_copy_of_the_sandbox(lib: Path) -> Path:
    for root, names in SANDBOX_IMPORTS:
        for name in names:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, lib / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif source.exists():
                lib.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, lib / name)
    for path in [lib, *lib.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return lib


def test_a_hidden_directory_does_not_hide_its_size_from_a_non_root_worker(state_dir: Path) -> None:
    worker_dir = state_dir / "unprivileged"
    worker_dir.mkdir()
    shutil.chown(worker_dir, 65534, 65534)
    lib = readable_copy_of_the_sandbox(state_dir / "lib")
    done = subprocess.run(
        # The checkout and its venv may sit under a private directory (a fresh clone under a 0700
        # temporary directory) out of reach of uid 65534: the system Python of the same minor
        # version runs a readable copy of the sandbox and the packages it imports.
        [SYSTEM_PYTHON, "-c", HIDDEN_DIR_WORKER, str(worker_dir / "state")],
        cwd=worker_dir,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib), "HOME": str(worker_dir)},
        user=65534,
        group=65534,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pids_scope"] == "worker_uid"
    assert report["reason"] == "workspace_quota", report
    assert report["removed"] == ["h/big", "h"] and report["left"] == []


def test_a_workspace_walk_the_worker_cannot_read_counts_as_over_quota(tmp_path: Path) -> None:
    snap = ws_mod.Snapshot()
    snap.hidden = 1
    assert ws_mod.over_quota(snap, 10**9, 10**6)
    assert not ws_mod.over_quota(ws_mod.snapshot(tmp_path), 10**9, 10**6)


async def test_a_result_lists_a_bounded_number_of_files(sandbox: Sandbox, sid: str) -> None:
    # 1500 files with 200-character names (300 kB of names; 5000 such would not fit one 1 MiB event).
    ws = sandbox.workspaces.ensure(sid)
    script = "for i in range(1500):\n    open(f'{i:05d}' + 'x' * 195, 'w').close()\n"
    limits = replace(sandbox.config.limits, cpu_s=5, timeout_s=20)
    result = await sandbox.run([PY, "-c", script], ws, limits=limits)
    assert result.ok, result.stderr
    assert 0 < len(result.files_changed) <= 1000
    assert sum(map(len, result.files_changed)) <= 128 * 1024
    assert all((ws / name).exists() for name in result.files_changed)
