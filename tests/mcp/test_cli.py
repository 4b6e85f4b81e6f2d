"""`pagi mcp add|ls|rm` as a person runs it (`python -m pagi_cli`, a real process) against a real edge
process and nats-server: an admin's key registers a stdio and an http server, lists and removes them;
a member's key is refused with the edge's reason; bad input and a stack that is not running get a
clear error and exit 1. A header value never reaches the command's output."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus
from pagi_cli import mcp

from ..ports import free_port
from .conftest import BOB_KEY, ROOT_KEY, Registry

SECRET = "cli-sekrit-0d9e8f7a6b"


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def pagi(
    *argv: str, url: str, key: str | None = ROOT_KEY, extra_env: dict[str, str] | None = None, cwd: Path | None = None
) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGI_", "NATS_URL"))}
    env["PAGI_URL"] = url
    if key is not None:
        env["PAGI_API_KEY"] = key
    env.update(extra_env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pagi_cli", *argv, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def test_add_list_remove_as_the_admin(registry: Registry, tmp_path: Path) -> None:
    clock, docs = f"clock-{uuid.uuid4().hex[:6]}", f"docs-{uuid.uuid4().hex[:6]}"
    ran = await pagi(
        "mcp", "add", clock, "--description", "the time", "--",
        sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC", url=registry.url,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert f"registered MCP server {clock} (stdio)" in ran.out
    ran = await pagi(
        "mcp", "add", docs, "--url", "https://docs.example.com/mcp", "--header", f"Authorization=Bearer {SECRET}",
        "--header-env", "X-Api-Key=DOCS_KEY", url=registry.url, extra_env={"DOCS_KEY": SECRET + "-2"},
    )  # fmt: skip
    assert ran.code == 0, ran.err

    ran = await pagi("mcp", "ls", url=registry.url)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    clock_line = next(line for line in lines if line.startswith(clock))
    assert "stdio" in clock_line and "no network" in clock_line and "mcp_server_time --local-timezone UTC" in clock_line
    docs_line = next(line for line in lines if line.startswith(docs))
    assert "https://docs.example.com/mcp" in docs_line and "headers: Authorization, X-Api-Key" in docs_line
    assert SECRET not in ran.out + ran.err

    ran = await pagi("mcp", "rm", clock, url=registry.url)
    assert ran.code == 0 and f"removed MCP server {clock}" in ran.out, ran.err
    assert clock not in (await pagi("mcp", "ls", url=registry.url)).out
    ran = await pagi("mcp", "rm", clock, url=registry.url)
    assert ran.code == 1 and f"no MCP server {clock}" in ran.err


async def test_a_members_key_is_refused_with_the_edges_reason(registry: Registry) -> None:
    name = f"bobs-{uuid.uuid4().hex[:6]}"
    ran = await pagi("mcp", "add", name, "--network", "--", "npx", "-y", "something", url=registry.url, key=BOB_KEY)
    assert ran.code == 1 and "only an admin may register an MCP server" in ran.err
    listed = await pagi("mcp", "ls", url=registry.url, key=BOB_KEY)
    assert listed.code == 0 and name not in listed.out


async def in_process(*argv: str, url: str) -> Ran:
    """The same command parsed and run in this process (no interpreter start): for the many bad inputs."""
    parser = argparse.ArgumentParser(prog="pagi")
    mcp.add_commands(parser.add_subparsers(dest="command", required=True))
    given, server_command = mcp.split_command(list(argv))
    args = parser.parse_args([*given, "--edge", url])
    if server_command is not None:
        args.argv = server_command
    out, err = io.StringIO(), io.StringIO()
    code = await mcp.mcp_command(args, out, err)
    return Ran(code, out.getvalue(), err.getvalue())


async def test_bad_input_is_a_clear_error(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_API_KEY", ROOT_KEY)
    url = registry.url
    ran = await in_process("mcp", "add", "has space", "--", "uvx", "x", url=url)
    assert ran.code == 1 and "name" in ran.err and "pattern" in ran.err
    ran = await in_process("mcp", "add", "shell", "--", "uvx mcp-server-time; reboot", url=url)
    assert ran.code == 1 and "command" in ran.err and "not a shell string" in ran.err
    ran = await in_process("mcp", "add", "local", "--url", "http://127.0.0.1:9/mcp", url=url)
    assert ran.code == 1 and "url" in ran.err and "internal address" in ran.err
    ran = await in_process("mcp", "add", "neither", url=url)
    assert ran.code == 1 and "after `--`" in ran.err
    ran = await in_process("mcp", "add", "both", "--url", "https://x.example.com/mcp", "--", "uvx", url=url)
    assert ran.code == 1 and "not both" in ran.err
    ran = await in_process("mcp", "add", "hdr", "--url", "https://x.example.com/mcp", "--header", "novalue", url=url)
    assert ran.code == 1 and "NAME=VALUE" in ran.err
    ran = await in_process("mcp", "add", "net", "--network", "--url", "https://x.example.com/mcp", url=url)
    assert ran.code == 1 and "--network is for stdio" in ran.err
    # A server's own `--` and options after ours are its arguments, not ours.
    name = f"dashes-{uuid.uuid4().hex[:6]}"
    ran = await in_process("mcp", "add", name, "--", "npx", "--", "--url", "x", url=url)
    assert ran.code == 0, ran.err
    listed = await in_process("mcp", "ls", url=url)
    assert "npx -- --url x" in next(line for line in listed.out.splitlines() if line.startswith(name))


async def test_a_stack_that_is_not_running_is_said_so(tmp_path: Path) -> None:
    ran = await pagi("mcp", "ls", url=f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert ran.code == 1 and "cannot reach the edge" in ran.err and "pagi up" in ran.err
    assert "Traceback" not in ran.err


async def test_development_mode_needs_no_key_and_finds_the_edge_in_pagi_env(
    bus: Bus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pagi up` without keys: the one person at the machine is the admin, recorded under their login
    name; the edge's address comes from the `pagi.env` that `pagi up` wrote into the data dir."""
    for name in ("PAGI_API_KEY", "PAGI_API_KEYS", "PAGI_URL"):
        monkeypatch.delenv(name, raising=False)
    async with TestClient(TestServer(make_app(EdgeSettings(), bus=bus))) as client:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        (data_dir / "pagi.env").write_text(f"NATS_URL=nats://127.0.0.1:1\nPAGI_URL={client.make_url('')}\n")
        parser = argparse.ArgumentParser(prog="pagi")
        mcp.add_commands(parser.add_subparsers(dest="command", required=True))
        given, command = mcp.split_command(["mcp", "add", "clock", "--data-dir", str(data_dir), "--", "uvx", "x"])
        args = parser.parse_args(given)
        args.argv = command
        out, err = io.StringIO(), io.StringIO()
        assert await mcp.mcp_command(args, out, err) == 0, err.getvalue()
        listed = await (await client.get("/v1/mcp/servers")).json()
    assert [(s["name"], s["created_by"]) for s in listed["servers"]] == [("clock", getpass.getuser())]
