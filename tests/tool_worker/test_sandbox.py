"""The sandbox itself, against real bubblewrap: what a tool sees, and every limit."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from sandbox import Limits, Sandbox, SandboxConfig
from sandbox import workspace as ws_mod

PY = "/usr/bin/python3"


async def test_tool_runs_as_nobody_with_a_minimal_world(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    code = "import os; print(os.getuid(), os.getgid()); print(sorted(os.listdir('/'))); print(os.getcwd())"
    result = await sandbox.run([PY, "-c", code], ws)
    assert result.exit_code == 0, result.stderr
    uid_line, root_line, cwd_line = result.stdout.splitlines()
    assert uid_line == "65534 65534"
    assert "root" not in root_line and "home" not in root_line and "workspace" in root_line
    assert cwd_line == "/workspace"
    assert result.isolation == "bwrap" and result.reason is None


async def test_environment_is_cleared(sandbox: Sandbox, sid: str) -> None:
    os.environ["PAGI_TEST_SECRET"] = "hunter2"
    try:
        result = await sandbox.run(["/usr/bin/env"], sandbox.workspaces.ensure(sid))
    finally:
        del os.environ["PAGI_TEST_SECRET"]
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines()}
    assert "PAGI_TEST_SECRET" not in names
    assert names <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE", "PAGI_SANDBOX", "PWD", "SHLVL"}


async def test_workspace_persists_within_a_session_and_not_across(sandbox: Sandbox, sid: str) -> None:
    mine = sandbox.workspaces.ensure(sid)
    other = sandbox.workspaces.ensure(sid + "-other")
    wrote = await sandbox.run(["/bin/sh", "-c", "mkdir -p d && echo hello > d/note.txt"], mine)
    assert wrote.exit_code == 0 and wrote.files_changed == ["d", "d/note.txt"]
    again = await sandbox.run(["/bin/cat", "d/note.txt"], mine)
    assert again.stdout == "hello\n" and again.files_changed == []
    elsewhere = await sandbox.run(["/bin/cat", "d/note.txt"], other)
    assert elsewhere.exit_code != 0 and "No such file" in elsewhere.stderr


async def test_files_changed_lists_modified_and_deleted(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    await sandbox.run(["/bin/sh", "-c", "echo a > a; echo b > b"], ws)
    result = await sandbox.run(["/bin/sh", "-c", "echo changed >> a; rm b; echo c > c"], ws)
    assert result.files_changed == ["a", "b", "c"]


async def test_stdin_reaches_the_tool(sandbox: Sandbox, sid: str) -> None:
    result = await sandbox.run(["/bin/cat"], sandbox.workspaces.ensure(sid), stdin=b'{"x": 1}')
    assert result.stdout == '{"x": 1}'


async def test_output_lines_stream_as_they_come(sandbox: Sandbox, sid: str) -> None:
    lines: list[tuple[str, str]] = []

    async def on_output(stream: str, line: str) -> None:
        lines.append((stream, line))

    await sandbox.run(
        ["/bin/sh", "-c", "echo one; echo two; echo oops >&2; printf tail"],
        sandbox.workspaces.ensure(sid),
        on_output=on_output,
    )
    assert [x for x in lines if x[0] == "stdout"] == [("stdout", "one"), ("stdout", "two"), ("stdout", "tail")]
    assert ("stderr", "oops") in lines


async def test_wall_clock_timeout_kills_the_whole_group(sandbox: Sandbox, sid: str) -> None:
    limits = replace(sandbox.config.limits, timeout_s=0.5)
    result = await sandbox.run(
        ["/bin/sh", "-c", "sleep 30 & sleep 30; echo never"], sandbox.workspaces.ensure(sid), limits=limits
    )
    assert result.reason == "timeout"
    assert result.exit_code == 137
    assert "0.5 s" in (result.error or "")
    assert result.duration_ms < 6000
    assert "never" not in result.stdout


async def test_output_cap_truncates_and_marks(sandbox: Sandbox, sid: str) -> None:
    limits = replace(sandbox.config.limits, output_bytes=10_000)
    result = await sandbox.run(["/usr/bin/yes"], sandbox.workspaces.ensure(sid), limits=limits)
    assert result.truncated is True and result.reason == "output_limit"
    assert result.stdout.startswith("y\ny\n")
    assert result.stdout.endswith("[pagi: output truncated]")
    assert len(result.stdout.encode()) <= 10_000 + 40


async def test_small_output_is_not_truncated(sandbox: Sandbox, sid: str) -> None:
    limits = replace(sandbox.config.limits, output_bytes=10_000)
    result = await sandbox.run(
        ["/bin/sh", "-c", "head -c 9000 /dev/zero | tr '\\0' x"], sandbox.workspaces.ensure(sid), limits=limits
    )
    assert result.truncated is False and len(result.stdout) == 9000


async def test_workspace_quota_stops_the_run_and_removes_its_files(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    await sandbox.run(["/bin/sh", "-c", "echo keep > keep.txt"], ws)
    limits = replace(sandbox.config.limits, workspace_quota_bytes=1_000_000, file_size_bytes=600_000)
    script = "for i in 1 2 3 4 5 6; do head -c 500000 /dev/zero > f$i; sleep 0.1; done; sleep 5"
    result = await sandbox.run(["/bin/sh", "-c", script], ws, limits=limits)
    assert result.reason == "workspace_quota"
    # Newest first, only until the workspace fits again: the older file the run wrote may stay.
    left = {p.name for p in ws.iterdir()}
    assert "keep.txt" in left and result.files_removed
    assert not left & set(result.files_removed)
    assert sum(p.stat().st_size for p in ws.iterdir()) <= 1_000_000
    assert result.error is not None and result.files_removed[0] in result.error


async def test_file_size_limit(sandbox: Sandbox, sid: str) -> None:
    limits = replace(sandbox.config.limits, file_size_bytes=100_000)
    result = await sandbox.run(
        ["/bin/sh", "-c", "head -c 1000000 /dev/zero > big"], sandbox.workspaces.ensure(sid), limits=limits
    )
    assert result.reason == "file_size_limit"
    assert (sandbox.workspaces.path(sid) / "big").stat().st_size == 100_000


async def test_sessions_are_checked(sandbox: Sandbox) -> None:
    for bad in ("../etc", "a/b", "", "x" * 65):
        try:
            sandbox.workspaces.ensure(bad)
        except ValueError as exc:
            assert "invalid session id" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")


async def test_fallback_without_bwrap_says_so(state_dir: Path, sid: str) -> None:
    box = Sandbox(SandboxConfig(state_dir=state_dir / "nobwrap", bwrap=None, limits=Limits(timeout_s=3)))
    assert box.start() == "none"
    assert box.warning and "WITHOUT isolation" in box.warning
    ws = box.workspaces.ensure(sid)
    result = await box.run(["/bin/sh", "-c", "echo hi > f; id -u; pwd"], ws)
    assert result.isolation == "none" and result.exit_code == 0
    uid, cwd = result.stdout.split()
    # A root worker runs each session as its own uid from the reserved range, even without bwrap.
    session_user = await box.user_for(ws)
    if os.geteuid() == 0:
        assert session_user is not None and 200_000 <= session_user[0] < 200_000 + 4096
    assert uid == str(session_user[0] if session_user else os.geteuid())
    assert cwd == str(ws) and result.files_changed == ["f"]


async def test_required_sandbox_refuses_without_bwrap(state_dir: Path, sid: str) -> None:
    box = Sandbox(SandboxConfig(state_dir=state_dir / "req", bwrap="/nonexistent/bwrap", require_sandbox=True))
    assert box.start() == "none"
    result = await box.run(["/bin/sh", "-c", "touch ran"], box.workspaces.ensure(sid))
    assert result.reason == "sandbox_required" and result.exit_code == -1
    assert "PAGI_REQUIRE_SANDBOX" in (result.error or "")
    assert not (box.workspaces.path(sid) / "ran").exists()


async def test_private_state_dir_moves_the_sandbox_somewhere_reachable(tmp_path: Path, sid: str) -> None:
    private = tmp_path / "private"  # pytest's tmp_path is 0700: the sandbox uid cannot reach it
    box = Sandbox(SandboxConfig(state_dir=private, host_user=(65534, 65534), limits=Limits(timeout_s=3)))
    assert box.start() == "bwrap"
    assert box.root != private and box.root.name.startswith("pagi-sandbox-")
    result = await box.run(["/bin/sh", "-c", "echo hi > f; cat f"], box.workspaces.ensure(sid))
    assert result.stdout == "hi\n" and result.files_changed == ["f"]
    await box.close()
    shutil.rmtree(box.root)  # a directory of its own, made for this private state dir


async def test_too_many_files_is_over_quota_and_removed_until_it_fits(sandbox: Sandbox, sid: str) -> None:
    ws = sandbox.workspaces.ensure(sid)
    await sandbox.run(["/bin/sh", "-c", "echo keep > keep.txt"], ws)
    limits = replace(sandbox.config.limits, workspace_max_files=100)
    script = "mkdir d; i=0; while [ $i -lt 3000 ]; do : > d/f$i; i=$((i+1)); done"
    result = await sandbox.run(["/bin/sh", "-c", script], ws, limits=limits)
    assert result.reason == "workspace_quota" and "100 files" in (result.error or "")
    assert (ws / "keep.txt").read_text() == "keep\n"
    left = len(ws_mod.snapshot(ws))
    assert left <= 100 and result.files_removed
    assert not any((ws / name).exists() for name in result.files_removed)


def test_removal_never_follows_a_symlink_out_of_the_workspace(tmp_path: Path) -> None:
    root, victim = tmp_path / "ws", tmp_path / "victim"
    root.mkdir()
    victim.mkdir()
    (victim / "precious").write_text("host data")
    before = ws_mod.snapshot(root)
    (root / "link").symlink_to(victim)
    (root / "new").mkdir()
    (root / "new" / "file").write_text("x")
    ws_mod.remove_created(root, before)
    assert list(root.iterdir()) == []
    assert (victim / "precious").read_text() == "host data"
