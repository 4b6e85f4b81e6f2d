"""The four reference MCP servers the project installs (pyproject.toml's dev extras: `mcp`,
`mcp-server-time`, `mcp-server-git`; tests/clients/package.json: `@modelcontextprotocol/server-everything`,
`@modelcontextprotocol/server-filesystem`) start over stdio, initialize and list their tools with the
official `mcp` SDK's own client: the install works on a fresh clone. No sandbox yet (the tool worker
will run them inside bubblewrap)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import PaginatedRequestParams

NODE_BIN = Path(__file__).resolve().parents[1] / "clients" / "node_modules" / ".bin"
START_TIMEOUT_S = 30.0


def _node_server(name: str, *args: str) -> StdioServerParameters:
    program = NODE_BIN / name
    assert program.exists(), f"{program} is missing: run `make setup` (tests/clients' npm ci)"
    return StdioServerParameters(command=str(program), args=list(args))


async def _tools(server: StdioServerParameters, errlog: Path) -> tuple[str, set[str]]:
    """The server's name as it introduces itself, and its tools' names (every page)."""
    with errlog.open("w") as err:
        async with asyncio.timeout(START_TIMEOUT_S):
            async with stdio_client(server, errlog=err) as (read, write), ClientSession(read, write) as session:
                hello = await session.initialize()
                names: set[str] = set()
                cursor: str | None = None
                while True:
                    params = PaginatedRequestParams(cursor=cursor) if cursor else None
                    page = await session.list_tools(params=params)
                    names |= {tool.name for tool in page.tools}
                    cursor = page.next_cursor
                    if not cursor:
                        return hello.server_info.name, names


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    git = shutil.which("git")
    assert git is not None, "git is needed for mcp-server-git"
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run([git, "init", "-q", str(repo)], check=True, timeout=30)
    return repo


async def test_mcp_server_time(tmp_path: Path) -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"])
    name, tools = await _tools(server, tmp_path / "stderr.log")
    assert "time" in name.lower()
    assert {"get_current_time", "convert_time"} <= tools


async def test_mcp_server_git(tmp_path: Path, git_repo: Path) -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server_git", "--repository", str(git_repo)])
    name, tools = await _tools(server, tmp_path / "stderr.log")
    assert "git" in name.lower()
    assert {"git_status", "git_log", "git_diff"} <= tools


async def test_server_everything(tmp_path: Path) -> None:
    name, tools = await _tools(_node_server("mcp-server-everything", "stdio"), tmp_path / "stderr.log")
    assert "everything" in name.lower()
    assert {"echo", "get-sum"} <= tools


async def test_server_filesystem(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    name, tools = await _tools(_node_server("mcp-server-filesystem", str(allowed)), tmp_path / "stderr.log")
    assert "filesystem" in name.lower() or "secure" in name.lower()
    assert {"read_text_file", "write_file", "list_directory"} <= tools
