"""What of the host a stdio server's sandbox gets from its registration: its program's install, a file
named in its arguments, a package its arguments point into, and its `paths`; never a folder its
arguments merely name, and nothing that overlaps PAGI's data directory (its passwords and keys)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus_schemas.mcp import McpServer
from sandbox import Bind
from tool_worker.mcp_host.program import ProgramError, program_binds


def server(args: list[str], paths: list[str] | None = None) -> McpServer:
    return McpServer(
        name="s", transport="stdio", command=sys.executable, args=args, paths=paths or [],
        created_by="root", created_at=datetime.now(UTC),
    )  # fmt: skip


def bound(binds: list[Bind]) -> set[Path]:
    return {b.source for b in binds}


def test_a_folder_named_in_the_arguments_is_not_given_unless_it_is_a_path(tmp_path: Path) -> None:
    home, notes, data = tmp_path / "home", tmp_path / "home" / "notes", tmp_path / "data"
    notes.mkdir(parents=True)
    data.mkdir()
    (home / "secret.txt").write_text("s3cret")
    binds = program_binds(server([str(home), str(notes)], paths=[str(notes)]), Path(sys.executable), data)
    assert home not in bound(binds)  # the server may be told to serve $HOME: the sandbox gives only notes
    assert [b for b in binds if b.source == notes.resolve() and b.writable]


def test_a_file_argument_is_given_alone_and_a_package_whole(tmp_path: Path) -> None:
    script = tmp_path / "srv" / "one_file_server.py"
    script.parent.mkdir()
    script.write_text("print('hi')")
    package = tmp_path / "node_modules" / "pkg" / "dist"
    package.mkdir(parents=True)
    (package / "index.js").write_text("")
    binds = bound(program_binds(server([str(script), str(package / "index.js")]), Path(sys.executable), None))
    assert script in binds and script.parent not in binds
    assert tmp_path / "node_modules" in binds


@pytest.mark.parametrize("inside", ["pagi.env", "."])
def test_nothing_inside_the_data_directory_is_given(tmp_path: Path, inside: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "pagi.env").write_text("NATS_URL=nats://operator:secret@127.0.0.1:4222")
    target = data / inside
    args, paths = ([str(target)], []) if target.is_file() else ([], [str(target)])
    with pytest.raises(ProgramError, match="overlaps PAGI's data directory"):
        program_binds(server(args, paths), Path(sys.executable), data)
