"""Built-in tools through the runner: schemas checked first, paths confined to the workspace."""

from __future__ import annotations

import pytest

from records.tools import ToolRegistry
from tool_worker.runner import ToolRunner


async def test_command_exec_and_python(runner: ToolRunner, sid: str) -> None:
    shell = await runner.run(sid, "command_exec", {"cmd": "echo $((6*7))"})
    assert (shell.exit_code, shell.stdout, shell.isolation) == (0, "42\n", "bwrap")
    py = await runner.run(sid, "python", {"code": "import sys; print(sys.version_info[0]); sys.exit(3)"})
    assert (py.exit_code, py.stdout) == (3, "3\n")


async def test_file_write_read_list_in_one_session(runner: ToolRunner, sid: str) -> None:
    wrote = await runner.run(sid, "file_write", {"path": "notes/a.txt", "content": "héllo\n"})
    assert wrote.exit_code == 0, wrote.stderr
    assert wrote.files_changed == ["notes", "notes/a.txt"]
    read = await runner.run(sid, "file_read", {"path": "notes/a.txt"})
    assert read.stdout == "héllo\n"
    listed = await runner.run(sid, "list_files", {})
    assert listed.stdout.splitlines() == ["notes/", "notes/a.txt\t7"]
    by_shell = await runner.run(sid, "command_exec", {"cmd": "cat notes/a.txt"})
    assert by_shell.stdout == "héllo\n"


async def test_file_read_missing(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(sid, "file_read", {"path": "nope.txt"})
    assert result.exit_code == 4 and "no such file: nope.txt" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"path": "../x", "content": ""}, "uses '..' to leave the workspace"),
        ({"path": "a/../../x", "content": ""}, "uses '..' to leave the workspace"),
        ({"path": "/etc/passwd", "content": ""}, "is outside the workspace"),
    ],
)
async def test_path_escapes_are_refused_before_running(
    runner: ToolRunner, sid: str, args: dict[str, str], message: str
) -> None:
    result = await runner.run(sid, "file_write", args)
    assert result.reason == "path_escape" and message in (result.error or "")
    assert result.duration_ms == 0.0  # nothing ran


async def test_symlink_leaving_the_workspace_is_refused(runner: ToolRunner, sid: str) -> None:
    await runner.run(sid, "command_exec", {"cmd": "ln -s /etc/passwd link; ln -s /tmp outdir; ln -s . self"})
    read = await runner.run(sid, "file_read", {"path": "link"})
    assert read.reason == "path_escape" and read.error == "path escapes the workspace: link"
    write = await runner.run(sid, "file_write", {"path": "outdir/x", "content": "x"})
    assert write.reason == "path_escape"
    inside = await runner.run(sid, "file_write", {"path": "self/ok.txt", "content": "fine"})
    assert inside.exit_code == 0 and inside.reason is None


@pytest.mark.parametrize(
    ("tool", "args", "fragment"),
    [
        ("command_exec", {}, "cmd: Field required"),
        ("command_exec", {"cmd": ""}, "cmd: String should have at least 1 character"),
        ("command_exec", {"cmd": "ls", "extra": 1}, "extra: Extra inputs are not permitted"),
        ("python", {"code": 5}, "code: Input should be a valid string"),
        ("vector_query", {"query": "x", "top_k": 500}, "top_k: Input should be less than or equal to 50"),
    ],
)
async def test_arguments_are_validated_against_the_schema(
    runner: ToolRunner, sid: str, tool: str, args: dict[str, object], fragment: str
) -> None:
    result = await runner.run(sid, tool, args)
    assert result.reason == "invalid_arguments" and fragment in (result.error or "")


async def test_unknown_tool(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(sid, "no_such_tool", {})
    assert result.reason == "unknown_tool" and result.exit_code == -1


async def test_vector_query_without_memory_worker_is_a_clear_error(runner: ToolRunner, sid: str) -> None:
    result = await runner.run(sid, "vector_query", {"query": "CVE-2024-1234"})
    assert result.reason == "unavailable" and "memory worker" in (result.error or "")


async def test_registry_lists_builtins_with_schemas(registry: ToolRegistry) -> None:
    await registry.publish_builtins()
    records = {r.name: r for r in await registry.entries()}
    assert set(records) == {"command_exec", "python", "file_write", "file_read", "list_files", "vector_query"}
    assert records["file_write"].args_schema["required"] == ["path", "content"]
    assert all(r.kind == "builtin" for r in records.values())


def test_fit_cuts_the_longer_stream_until_the_result_fits() -> None:
    from bus_schemas.build import BuildResult
    from bus_schemas.fit import FIT_MARK, fit

    big = BuildResult(request_id="r", tool_name="t", success=False, stdout="o" * 10, stderr="\x02" * 400_000)
    small = fit(big, budget=100_000)
    assert len(small.model_dump_json()) <= 100_000
    assert small.stdout == "o" * 10 and small.stderr.endswith(FIT_MARK)
    assert fit(small, budget=100_000) == small
