"""MCP servers nobody here wrote, through the whole of PAGI: a real `pagi up` (deterministic planner, the
tool worker's MCP host, stdio servers inside bubblewrap), the reference servers `make setup` installs, and a
Streamable HTTP server the test starts with the `mcp` SDK (tests/mcp/http_server.py).

- server-everything: its tools listed in `GET /v1/tools`; `echo` called after approval, its text back.
- server-filesystem: a `write_file` that the human denies never reaches the server (no file is written);
  approved, the file is there.
- mcp-server-git on a temporary repository: `git_log` after approval names the commit.
- Streamable HTTP (`--url`, a sealed bearer header, `PAGI_MCP_ALLOW_PRIVATE=1` for loopback): `add`
  after approval; a denied `echo` never reaches the server (its own call log); a wrong token reported
  in the server's status; the server killed under a call, then started again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bus_schemas.mcp import pagi_tool_name

from ..stack import UNTHROTTLED
from ..support import eventually
from ..up import Up
from ..up_launch import launch_up
from .http_server import HttpServer, running_http_server

CHECKOUT = Path(__file__).resolve().parents[2]
NODE_BIN = CHECKOUT / "tests" / "clients" / "node_modules" / ".bin"
VENV_BIN = CHECKOUT / ".venv" / "bin"
TWIN = "orchestrator"
WAIT_S = 90.0
TOKEN = "http-token-5b1e0c9d"
# Each /v1/tools read opens KV watches (ephemeral consumers): polling faster exhausts them (requests-M3.md #3).
POLL_S = 0.5

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]


@dataclass
class Pagi:
    up: Up
    url: str
    http: aiohttp.ClientSession
    root: Path
    web: HttpServer

    async def request(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.http.request(method, self.url + path, json=body) as reply:
            text = await reply.text()
            if reply.status != expect:
                errors = [line[-700:] for line in self.up.lines if '"level": "error"' in line][-2:]
                raise AssertionError(f"{method} {path}: {reply.status} {text}; the stack's last errors: {errors}")
            return json.loads(text) if text else None

    async def register(self, server: dict[str, Any]) -> None:
        await self.request("POST", "/v1/mcp/servers", server, expect=201)

    async def allow(self, *entries: str) -> None:
        twin = await self.request("GET", f"/v1/twins/{TWIN}")
        served_only = {"id", "has_api_key", "owner", "status", "created_at", "updated_at", "mcp_unknown_servers"}
        body = {k: v for k, v in twin.items() if k not in served_only}
        body["mcp_tools"] = sorted({*twin["mcp_tools"], *entries})
        await self.request("PUT", f"/v1/twins/{TWIN}", body)

    async def listed(self, server: str, tools: set[str], wait_s: float = WAIT_S) -> dict[str, dict[str, Any]]:
        """Waits until `GET /v1/tools?twin=` lists these tools of the server: the tool worker started it."""
        wanted = {pagi_tool_name(server, tool) for tool in tools}
        seen: dict[str, dict[str, Any]] = {}

        async def probe() -> bool:
            listed = await self.request("GET", f"/v1/tools?twin={TWIN}")
            seen.update({t["name"]: t for t in listed["tools"] if t["name"] in wanted})
            if not wanted <= set(seen):
                servers = await self.request("GET", "/v1/mcp/servers")
                status = [s.get("status") for s in servers["servers"] if s["name"] == server]
                raise AssertionError(f"{server}: {sorted(wanted - set(seen))} not listed yet; status {status}")
            return True

        await eventually(probe, timeout=wait_s, interval=POLL_S, what=f"the tools of {server} listed")
        return seen

    async def ask(self, session: str, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """The `/tool` message; the approval it waits for."""
        message = f"/tool {pagi_tool_name(server, tool)} {json.dumps(args)}"
        found: list[dict[str, Any]] = []

        async def asked_for_approval() -> bool:
            # The planner reads twins through a 2 s cache (records/twins.py): a policy just widened may
            # be refused once more; only that refusal is retried.
            asked = await self.request("POST", "/v1/chat", {"session_id": session, "message": message})
            if asked["status"] != "awaiting_approval":
                assert f"{server}/{tool} is not in {TWIN}'s mcp_tools" in asked["response"], asked
                return False
            found[:] = [asked]
            return True

        await eventually(asked_for_approval, timeout=10, interval=POLL_S, what="the widened policy in force")
        asked = found[0]
        pending = await self.request("GET", f"/v1/approvals?session={session}")
        [approval] = [a for a in pending["approvals"] if a["job_id"] == asked["job_id"]]
        assert approval["mcp"]["server"] == server and approval["mcp"]["tool"] == tool, approval
        return dict(approval)

    async def decide(self, approval: dict[str, Any], approved: bool) -> str:
        """Approves or denies; the job's final answer."""
        await self.request("POST", f"/v1/approvals/{approval['approval_id']}", {"approved": approved}, expect=202)
        answer: list[str] = []

        async def final() -> bool:
            history = await self.request("GET", f"/v1/sessions/{approval['session_id']}/history")
            last = history["messages"][-1]
            assert last["role"] == "assistant" and last["job_id"] == approval["job_id"], last
            assert last["status"] != "awaiting_approval", last
            answer[:] = [str(last["text"])]
            return True

        await eventually(final, timeout=WAIT_S, interval=POLL_S, what="the job's final answer")
        return answer[0]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pagi(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pagi]:
    root = tmp_path_factory.mktemp("real-servers")
    path = f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"  # as `source .venv/bin/activate && pagi up`
    env = {**UNTHROTTLED, "PAGI_MCP_ALLOW_PRIVATE": "1", "LOG_LEVEL": "INFO", "PATH": path}
    async with (
        running_http_server(root, token=TOKEN) as web,
        launch_up(root / "data", env=env) as up,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
    ):
        yield Pagi(up, up.url, http, root, web)


async def test_server_everything_listed_and_called_after_approval(pagi: Pagi) -> None:
    program = NODE_BIN / "mcp-server-everything"
    assert program.exists(), f"{program} is missing: run `make setup`"
    await pagi.register({"name": "everything", "transport": "stdio", "command": str(program), "args": ["stdio"]})
    await pagi.allow("everything/*")
    tools = await pagi.listed("everything", {"echo", "get-sum"})
    echo = tools[pagi_tool_name("everything", "echo")]
    assert (echo["kind"], echo["server"], echo["tool"], echo["description_by"]) == (
        "mcp",
        "everything",
        "echo",
        "server",
    )
    assert echo["args_schema"]["properties"]["message"], echo
    approval = await pagi.ask("everything", "everything", "echo", {"message": "hello from PAGI"})
    assert "hello from PAGI" in json.dumps(approval["action"])
    answer = await pagi.decide(approval, approved=True)
    assert "hello from PAGI" in answer


async def test_filesystem_denied_write_never_reaches_the_server(pagi: Pagi) -> None:
    folder = pagi.root / "shared-folder"
    folder.mkdir()
    folder.chmod(0o777)  # the sandbox's unprivileged uid writes here
    program = NODE_BIN / "mcp-server-filesystem"
    await pagi.register(
        {"name": "fs", "transport": "stdio", "command": str(program), "args": [str(folder)], "paths": [str(folder)]}
    )
    await pagi.allow("fs/write_file")
    await pagi.listed("fs", {"write_file"})
    target = folder / "denied.txt"
    denied = await pagi.ask("fs-deny", "fs", "write_file", {"path": str(target), "content": "must not exist"})
    answer = await pagi.decide(denied, approved=False)
    assert "denied" in answer.lower() or "not approved" in answer.lower(), answer
    assert not target.exists(), "a denied call reached the server"

    written = folder / "approved.txt"
    approval = await pagi.ask("fs-approve", "fs", "write_file", {"path": str(written), "content": "written by PAGI"})
    await pagi.decide(approval, approved=True)
    assert written.read_text() == "written by PAGI"


def _repository(repo: Path) -> None:
    git = shutil.which("git")
    assert git is not None, "git is needed for mcp-server-git"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    for argv in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "first commit from the test"]):
        subprocess.run([git, "-C", str(repo), *argv], check=True, timeout=30, env=env)
    repo.chmod(0o777)


async def test_mcp_server_git_on_a_temporary_repository(pagi: Pagi) -> None:
    repo = pagi.root / "repo"
    await asyncio.to_thread(_repository, repo)
    await pagi.register(
        {
            "name": "git",
            "transport": "stdio",
            "command": str(VENV_BIN / "mcp-server-git"),
            "args": ["--repository", str(repo)],
            "paths": [str(repo)],
        }
    )
    await pagi.allow("git/git_log")
    await pagi.listed("git", {"git_log"})
    approval = await pagi.ask("git", "git", "git_log", {"repo_path": str(repo)})
    answer = await pagi.decide(approval, approved=True)
    assert "first commit from the test" in answer


async def test_a_streamable_http_server_behind_approvals(pagi: Pagi) -> None:
    """The tool worker opens the sealed header (PAGI_MCP_SECRET_KEY) and calls the server over the SDK's
    Streamable HTTP client: a denied call never reaches it; an approved one answers; its results and
    status say `isolation: remote`."""
    await pagi.register(
        {"name": "web", "transport": "http", "url": pagi.web.url, "headers": {"Authorization": f"Bearer {TOKEN}"}}
    )
    await pagi.allow("web/*")
    servers = await pagi.request("GET", "/v1/mcp/servers")
    [web] = [s for s in servers["servers"] if s["name"] == "web"]
    assert web["header_names"] == ["Authorization"] and TOKEN not in json.dumps(servers)
    tools = await pagi.listed("web", {"add", "echo"})
    assert tools[pagi_tool_name("web", "add")]["description_by"] == "server"

    denied = await pagi.ask("web-deny", "web", "echo", {"text": "must not arrive"})
    answer = await pagi.decide(denied, approved=False)
    assert "denied" in answer.lower() or "not approved" in answer.lower(), answer
    assert pagi.web.calls() == [], "a denied call reached the http server"

    approval = await pagi.ask("web-add", "web", "add", {"a": 20, "b": 22})
    assert "42" in await pagi.decide(approval, approved=True)
    assert [c["tool"] for c in pagi.web.calls()] == ["add"]
    status = (await pagi.request("GET", "/v1/mcp/servers"))["servers"]
    [web] = [s for s in status if s["name"] == "web"]
    assert web["status"]["isolation"] == "remote" and web["status"]["running"], web
    assert TOKEN not in "\n".join(pagi.up.lines), "the sealed header's value was logged"


async def test_an_http_server_with_the_wrong_token_says_so_and_lists_nothing(pagi: Pagi) -> None:
    await pagi.register(
        {"name": "web-wrong", "transport": "http", "url": pagi.web.url, "headers": {"Authorization": "Bearer nope"}}
    )

    async def refused() -> str:
        servers = (await pagi.request("GET", "/v1/mcp/servers"))["servers"]
        [entry] = [s for s in servers if s["name"] == "web-wrong"]
        status = entry.get("status") or {}
        assert status.get("last_error") and not status.get("running"), entry
        return str(status["last_error"])

    error = await eventually(refused, timeout=WAIT_S, interval=POLL_S, what="the refused connection reported")
    assert "401" in error or "Unauthorized" in error, error
    listed = await pagi.request("GET", f"/v1/tools?twin={TWIN}")
    assert not [t for t in listed["tools"] if t.get("server") == "web-wrong"]


async def test_an_http_server_that_dies_fails_the_call_clearly_and_is_called_again_when_back(pagi: Pagi) -> None:
    """kill -9 of the server under an approved call: a failed result that says so; started again on the
    same port, the tool worker connects again (a new session) and the next call answers."""
    await pagi.register(
        {"name": "web-dies", "transport": "http", "url": pagi.web.url, "headers": {"Authorization": f"Bearer {TOKEN}"}}
    )
    await pagi.allow("web-dies/add")
    await pagi.listed("web-dies", {"add"})
    port = int(pagi.web.url.rsplit(":", 1)[1].split("/")[0])
    approval = await pagi.ask("web-dies-1", "web-dies", "add", {"a": 1, "b": 2})
    pagi.web.process.kill()
    await pagi.web.process.wait()
    answer = await pagi.decide(approval, approved=True)
    assert "MCP server web-dies stopped" in answer and "the call did not complete" in answer, answer
    assert "isolation: remote" in answer, answer

    async with running_http_server(pagi.root, token=TOKEN, port=port) as again:
        pagi.web = again
        approval = await pagi.ask("web-dies-2", "web-dies", "add", {"a": 2, "b": 3})
        assert "5" in await pagi.decide(approval, approved=True)
