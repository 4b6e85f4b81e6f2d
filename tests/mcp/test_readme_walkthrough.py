"""README.md's MCP walkthrough, run as a newcomer runs it: its commands read from README.md itself and run
with bash against a real `pagi up`, with the real `mcp-server-time` and `mcp-server-filesystem` in the real
sandbox (deterministic planner: the explicit `/tool` form).

Only placeholders are filled in (`<approval_id>`, and the session name when the README says "approve it as
above"); `$HOME` is a temporary home, so "the folder you choose" is a temporary folder. The time server's
approval shows server, tool and arguments, is approved with "always", the answer is Tokyo's time (against
Python's zoneinfo, within a minute) and the second ask runs without an approval. The filesystem server reads
a file inside the folder; a path outside it is refused by the server, and a server that agrees to serve
everything still cannot read it (the sandbox mounts no other folder).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio

from ..stack import UNTHROTTLED
from ..support import eventually, run_bounded
from ..up import Up
from ..up_launch import launch_up

CHECKOUT = Path(__file__).resolve().parents[2]
README = CHECKOUT / "README.md"
NODE_BIN = CHECKOUT / "tests" / "clients" / "node_modules" / ".bin"
RUN_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 90.0
SECRET = "the-secret-outside-0f3c"
POLL_S = 0.5  # each /v1/tools read opens KV watches (ephemeral consumers): do not spin

_FENCE = re.compile(r"^```(\S*)\s*$")
# A trailing shell comment: whitespace, `#`, a space (as tests/clients/recipes.py reads them).
_COMMENT = re.compile(r"\s+#\s.*$")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{2}:\d{2}")

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]


def walkthrough_commands() -> list[str]:
    """Every command line of the fenced sh blocks of README's "Walkthrough" under "MCP servers", in order."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### Walkthrough"))
    assert lines[:start] and any(line == "## MCP servers" for line in lines[:start])
    commands: list[str] = []
    in_sh = False
    for line in lines[start + 1 :]:
        if line.startswith("## ") or line.startswith("### "):
            break
        fence = _FENCE.match(line.strip())
        if fence:
            in_sh = not in_sh and fence.group(1) in ("sh", "bash", "shell")
        elif in_sh and line.strip():
            commands.append(_COMMENT.sub("", line).strip())
    assert commands, "README.md's MCP walkthrough has no commands"
    return commands


def command(commands: list[str], *needles: str) -> str:
    """The one walkthrough command containing every needle: a README edit that drops it fails here by name."""
    found = [c for c in commands if all(n in c for n in needles)]
    assert len(found) == 1, f"README's MCP walkthrough should have one command with {needles}: {found}"
    return found[0]


def json_values(text: str) -> list[Any]:
    """Every JSON value jq printed (one after another), in order."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


@dataclass
class Newcomer:
    """A second terminal in the checkout: bash, the README's setup line run before each command."""

    workdir: Path
    home: Path
    url: str
    preamble: list[str] = field(default_factory=list)

    async def run(self, line: str) -> str:
        script = " && ".join([*self.preamble, f"( {line} )"])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGI_", "NATS_URL", "VIRTUAL_ENV"))}
        env.update(HOME=str(self.home), PATH=f"{NODE_BIN}:{env.get('PATH', '/usr/bin:/bin')}")
        return await run_bounded(
            "bash", "-eo", "pipefail", "-c", script, cwd=self.workdir, env=env, timeout=RUN_TIMEOUT_S,
            what=f"README command {line!r}",
        )  # fmt: skip

    def keep(self, line: str) -> None:
        """A line that sets the shell up (source, export) runs before every later command."""
        self.preamble.append(line)


@dataclass
class Walk:
    up: Up
    up_url: str
    you: Newcomer
    commands: list[str]
    http: aiohttp.ClientSession


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def walk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Walk]:
    root = tmp_path_factory.mktemp("walkthrough")
    data_dir, workdir, home = root / ".pagi", root / "checkout", root / "home"
    workdir.mkdir()
    home.mkdir()
    # The newcomer's checkout: its .venv, and `.pagi` (the data dir `pagi up` writes pagi.env into).
    (workdir / ".venv").symlink_to(CHECKOUT / ".venv")
    (workdir / ".pagi").symlink_to(data_dir)
    # `source .venv/bin/activate && pagi up`, as the README starts it; the node servers as `npm -g` puts them.
    path = f"{CHECKOUT / '.venv' / 'bin'}:{NODE_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    env = {**UNTHROTTLED, "PATH": path, "HOME": str(home), "LOG_LEVEL": "INFO"}
    async with launch_up(data_dir, env=env) as up, aiohttp.ClientSession() as http:
        commands = walkthrough_commands()
        you = Newcomer(workdir, home, up.url)
        setup = command(commands, "source .pagi/pagi.env")
        you.keep(setup)
        yield Walk(up, up.url, you, commands, http)


async def _servers(walk: Walk) -> list[str]:
    """What the tool worker said about MCP servers lately (`pagi up`'s output): why one is not listed."""
    return [line for line in walk.up.lines if "MCP server" in line][-3:]


async def _pending(walk: Walk, session: str) -> list[dict[str, Any]]:
    async with walk.http.get(f"{walk.up_url}/v1/approvals", params={"session": session}) as response:
        assert response.status == 200, await response.text()
        approvals: list[dict[str, Any]] = (await response.json())["approvals"]
        return approvals


async def _ask_and_approve(walk: Walk, ask: str, session: str) -> tuple[dict[str, Any], str]:
    """The README's ask, its approval listing and the approval with "always": the approval shown, the answer."""
    you, commands = walk.you, walk.commands
    asked: list[Any] = []

    async def asked_for_approval() -> bool:
        # The planner reads twins through a 2 s cache (records/twins.py): a policy just widened may be
        # refused once more; only that refusal is retried.
        asked[:] = json_values(await you.run(ask))
        return bool(asked[0]["status"] == "awaiting_approval")

    await eventually(asked_for_approval, timeout=10, interval=POLL_S, what="the widened policy in force")
    listing = command(commands, "/v1/approvals?session=").replace("session=tokyo", f"session={session}")
    shown: list[Any] = []

    async def approval_listed() -> bool:
        shown[:] = json_values(await you.run(listing))
        assert shown, f"no approval pending in session {session}"
        return True

    await eventually(approval_listed, timeout=ANSWER_TIMEOUT_S, interval=POLL_S)
    approval = shown[0]
    approve = command(commands, "/v1/approvals/<approval_id>", '"always": true')
    decided = json_values(await you.run(approve.replace("<approval_id>", approval["approval_id"])))
    assert decided[0]["status"] == "submitted", decided
    await _final(walk, session, asked[0]["job_id"])
    history = command(commands, "/v1/sessions/tokyo/history").replace("/tokyo/", f"/{session}/")
    return approval, (await you.run(history)).strip()


async def _final(walk: Walk, session: str, job_id: str) -> str:
    """Waits for the job's final answer in the session's history (not the question asking for approval)."""
    answer: list[str] = []

    async def answered() -> bool:
        async with walk.http.get(f"{walk.up_url}/v1/sessions/{session}/history") as response:
            messages = (await response.json())["messages"]
        last = messages[-1]
        assert last["role"] == "assistant" and last["job_id"] == job_id, last
        assert last["status"] != "awaiting_approval", last
        answer[:] = [str(last["text"])]
        return True

    await eventually(answered, timeout=ANSWER_TIMEOUT_S, interval=POLL_S)
    return answer[0]


def _assert_tokyo_time(text: str) -> None:
    stamps = _ISO.findall(text)
    assert stamps, f"no ISO time in the answer: {text!r}"
    said = datetime.fromisoformat(stamps[0])
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    assert said.utcoffset() == now.utcoffset(), f"{said} is not in Tokyo's offset {now.utcoffset()}"
    assert abs((said - now).total_seconds()) < 60, f"{said} is not Tokyo's time now ({now})"


async def test_time_in_tokyo_approved_once_then_always(walk: Walk) -> None:
    you, commands = walk.you, walk.commands
    added = await you.run(command(commands, "pagi mcp add time --"))
    async with walk.http.get(f"{walk.up_url}/v1/mcp/servers") as response:
        servers = {server["name"]: server for server in (await response.json())["servers"]}
    assert "time" in servers, (servers, added)
    assert servers["time"]["command"] == "mcp-server-time", servers
    allowed = await you.run(command(commands, '.mcp_tools += ["time/*"]'))
    assert json_values(allowed) == [["time/*"]], f"the twin's PUT did not take: {allowed}"

    async def listed() -> bool:
        names = await you.run(command(commands, "/v1/tools?twin=orchestrator"))
        assert "time__get_current_time" in names, f"{names!r}; the servers: {await _servers(walk)}"
        return True

    await eventually(
        listed, timeout=ANSWER_TIMEOUT_S, interval=POLL_S
    )  # the tool worker starts the server and lists its tools
    asks = [c for c in commands if "time__get_current_time" in c and "/v1/chat" in c]
    assert len(asks) == 2, f"the README asks twice (approve once, then always): {asks}"
    approval, answer = await _ask_and_approve(walk, asks[0], "tokyo")
    assert approval["mcp"]["server"] == "time" and approval["mcp"]["tool"] == "get_current_time", approval
    assert "Asia/Tokyo" in json.dumps(approval), f"the approval does not show the arguments: {approval}"
    assert approval["mcp"]["description"], "the tool's own description is shown"
    _assert_tokyo_time(answer)

    again = await you.run(asks[1])
    _assert_tokyo_time(again)
    assert await _pending(walk, "tokyo") == [], "the always-allowed tool asked again"


async def test_filesystem_confined_to_the_chosen_folder(walk: Walk) -> None:
    you, commands = walk.you, walk.commands
    choose = command(commands, 'export NOTES="$HOME/notes"')
    await you.run(choose)
    you.keep(choose)
    (walk.you.home / "secret.txt").write_text(SECRET)  # beside the folder, never given to any server
    await you.run(command(commands, "pagi mcp add files --path"))
    allowed = await you.run(command(commands, '"files/read_text_file"'))
    assert "files/read_text_file" in json_values(allowed)[0], f"the twin's PUT did not take: {allowed}"

    async def listed() -> bool:
        async with walk.http.get(f"{walk.up_url}/v1/tools", params={"twin": "orchestrator"}) as response:
            names = {tool["name"] for tool in (await response.json())["tools"]}
        assert {"files__read_text_file", "files__list_directory"} <= names, names
        return True

    await eventually(listed, timeout=ANSWER_TIMEOUT_S, interval=POLL_S)
    ask = command(commands, "files__read_text_file", "/v1/chat")
    approval, answer = await _ask_and_approve(walk, ask, "notes")
    assert approval["mcp"]["server"] == "files", approval
    assert "buy rice" in answer

    # Inside the folder the listing works (another tool: its own approval); outside, the server refuses
    # (read_text_file is always-allowed now: no approval).
    notes = walk.you.home / "notes"
    listed_dir = await _chat(walk, "notes", "files__list_directory", {"path": str(notes)}, approve=True)
    assert "todo.txt" in listed_dir
    outside = await _chat(walk, "notes", "files__read_text_file", {"path": str(walk.you.home / "secret.txt")})
    assert SECRET not in outside
    assert re.search(r"denied|outside|not allowed", outside, re.I), outside


async def test_a_server_that_agrees_to_everything_still_sees_only_its_folder(walk: Walk) -> None:
    """The server's own check out of the way (it is told to serve all of `$HOME`), the sandbox given only
    `$HOME/notes`: the sandbox is what keeps the secret beside the folder unread."""
    notes = walk.you.home / "notes"
    notes.mkdir(exist_ok=True)
    (walk.you.home / "secret.txt").write_text(SECRET)
    await walk.you.run(f'pagi mcp add wide --path "{notes}" -- mcp-server-filesystem "$HOME" "{notes}"')
    allow = command(walk.commands, '.mcp_tools += ["time/*"]').replace('"time/*"', '"wide/*"')
    assert "wide/*" in json_values(await walk.you.run(allow))[0]

    async def listed_or_refused() -> str:
        """ "listed", or "refused" when the server could not start because the sandbox hides `$HOME`."""
        async with walk.http.get(f"{walk.up_url}/v1/tools", params={"twin": "orchestrator"}) as response:
            if "wide__read_text_file" in {tool["name"] for tool in (await response.json())["tools"]}:
                return "listed"
        async with walk.http.get(f"{walk.up_url}/v1/mcp/servers") as response:
            [wide] = [s for s in (await response.json())["servers"] if s["name"] == "wide"]
        status = wide.get("status") or {}
        return "refused" if status.get("last_error") and status.get("restarts", 0) >= 2 else ""

    if await eventually(listed_or_refused, timeout=ANSWER_TIMEOUT_S, interval=POLL_S) == "refused":
        return  # a server that cannot even see the folder it was told to serve reads nothing
    answer = await _chat(
        walk, "wide", "wide__read_text_file", {"path": str(walk.you.home / "secret.txt")}, approve=True
    )
    assert SECRET not in answer
    assert re.search(r"ENOENT|no such file|not found|denied", answer, re.I), answer
    inside = await _chat(walk, "wide", "wide__read_text_file", {"path": str(notes / "todo.txt")})
    assert "buy rice" in inside


async def _chat(walk: Walk, session: str, tool: str, args: dict[str, Any], approve: bool = False) -> str:
    """One `/tool` message over `POST /v1/chat` (approved with "always" when asked): the final answer."""
    message = f"/tool {tool} {json.dumps(args)}"
    bodies: list[dict[str, Any]] = []

    async def sent() -> bool:
        url = f"{walk.up_url}/v1/chat"
        async with walk.http.post(url, json={"session_id": session, "message": message}) as response:
            assert response.status == 200, await response.text()
            bodies[:] = [await response.json()]
        # Only the planner's 2 s twin cache refusing a policy widened just now is retried.
        return "is not in orchestrator's mcp_tools" not in str(bodies[0]["response"])

    await eventually(sent, timeout=10, interval=POLL_S, what="the widened policy in force")
    body = bodies[0]
    if not approve:
        assert await _pending(walk, session) == [], f"{tool} asked again: {body}"
        return str(body["response"])
    pending = await _pending(walk, session)
    assert len(pending) == 1, (pending, body)
    async with walk.http.post(
        f"{walk.up_url}/v1/approvals/{pending[0]['approval_id']}", json={"approved": True, "always": True}
    ) as response:
        assert response.status == 202, await response.text()
    return await _final(walk, session, str(body["job_id"]))
