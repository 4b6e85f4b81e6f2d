"""README.md's "Twins from the clients you already have", run as a newcomer runs it: each Python example
of that section, read from README.md itself, run by the project's Python against a real `pagi up` with
API keys (`PAGI_API_KEYS="<key>:alice"`) and `PAGI_NATS_AGENT_CALLERS=alice`, as the README says to start
it. Only the placeholders are filled in: the key, the edge's and nats-server's ports (free ones here),
and alice's NATS password read from `.pagi/nats-passwords.env` as the README's `grep` shows it.

The OpenAI example streams "list files", a step that needs approval: the test approves it as a person in
the console would (`POST /v1/approvals/<id>` as alice) while the example's stream is open. The agent
protocol example answers its own query ("allow"). Each example must print the answer a newcomer expects.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from ..stack import UNTHROTTLED
from ..support import eventually, run_bounded
from ..up_launch import launch_up

CHECKOUT = Path(__file__).resolve().parents[2]
README = CHECKOUT / "README.md"
SECTION = "## Twins from the clients you already have"
KEY = "alice-readme-key-0123456789abcdef"
PLACEHOLDER_KEY = "<your PAGI API key>"
README_EDGE = "http://127.0.0.1:8181"
README_NATS = "127.0.0.1:4222"
RUN_TIMEOUT_S = 90.0
_FENCE = re.compile(r"^```(\S*)\s*$")

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]


def section_examples() -> list[str]:
    """The fenced Python blocks of the README's doors section, in order."""
    lines = README.read_text().splitlines()
    blocks: list[str] = []
    fence_language: str | None = None  # inside a fenced block: its language
    current: list[str] = []
    for line in lines[lines.index(SECTION) + 1 :]:
        fence = _FENCE.match(line.strip())
        if fence_language is None and line.startswith("## "):
            break
        if fence and fence_language is None:
            fence_language, current = fence.group(1), []
        elif fence:
            if fence_language == "python":
                blocks.append("\n".join(current))
            fence_language = None
        else:
            current.append(line)
    return blocks


def example(needle: str) -> str:
    found = [block for block in section_examples() if needle in block]
    assert len(found) == 1, f"README's doors section should have one Python example with {needle!r}: {len(found)}"
    return found[0]


@dataclass
class Doors:
    url: str
    nats_port: int
    data_dir: Path
    workdir: Path
    http: aiohttp.ClientSession

    def filled(self, code: str) -> str:
        password = self.agent_password()
        return (
            code.replace(PLACEHOLDER_KEY, KEY)
            .replace(README_EDGE, self.url)
            .replace(README_NATS, f"127.0.0.1:{self.nats_port}")
            .replace("agent_alice:PASSWORD@", f"agent_alice:{password}@")
        )

    def agent_password(self) -> str:
        for line in (self.data_dir / "nats-passwords.env").read_text().splitlines():
            name, _, value = line.partition("=")
            if "AGENT_ALICE" in name:
                return value.strip()
        raise AssertionError("no AGENT_ALICE line in nats-passwords.env")

    async def run(self, code: str) -> str:
        script = self.workdir / "example.py"
        script.write_text(self.filled(code))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGI_", "NATS_URL", "OPENAI_"))}
        return await run_bounded(
            sys.executable, str(script), cwd=self.workdir, env=env, timeout=RUN_TIMEOUT_S, what="the README example"
        )

    async def approve_when_asked(self) -> None:
        """alice approves the first approval her sessions ask, as she would in the console."""
        headers = {"Authorization": f"Bearer {KEY}"}

        async def pending() -> str | None:
            async with self.http.get(f"{self.url}/v1/approvals", headers=headers) as response:
                assert response.status == 200, await response.text()
                approvals = (await response.json())["approvals"]
            return approvals[0]["approval_id"] if approvals else None

        approval_id = await eventually(pending, timeout=60, interval=0.3, what="the example's approval asked")
        async with self.http.post(
            f"{self.url}/v1/approvals/{approval_id}", json={"approved": True}, headers=headers
        ) as response:
            assert response.status in (200, 202), await response.text()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def doors(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Doors]:
    root = tmp_path_factory.mktemp("readme-doors")
    data_dir, workdir = root / ".pagi", root / "work"
    workdir.mkdir()
    env = {**UNTHROTTLED, "PAGI_API_KEYS": f"{KEY}:alice", "PAGI_NATS_AGENT_CALLERS": "alice"}
    async with launch_up(data_dir, env=env) as up, aiohttp.ClientSession() as http:
        yield Doors(up.url, up.nats_port, data_dir, workdir, http)


async def test_the_openai_example_lists_twins_answers_and_streams_through_an_approval(doors: Doors) -> None:
    code = example("from openai import OpenAI")
    approving = asyncio.create_task(doors.approve_when_asked())
    out = await doors.run(code)
    await asyncio.wait_for(approving, 10)
    first, second, *rest = out.splitlines()
    assert "'orchestrator'" in first, out  # the printed model ids: the twins alice may use
    session, _, answer = second.partition(" ")
    assert session and "You said: hello" in answer, out
    streamed = "\n".join(rest)
    assert "waiting for approval" in streamed, out
    assert "Tool list_files exited with code 0" in streamed, out  # the result, after the approval


async def test_the_a2a_example_gets_the_twins_answer(doors: Doors) -> None:
    out = await doors.run(example("from a2a.client import"))
    assert "You said: hello" in out, out


async def test_the_agent_protocol_example_allows_its_query_and_gets_the_result(doors: Doors) -> None:
    out = await doors.run(example("from synadia_ai.agents import"))
    assert "asks for approval" in out and "list_files" in out, out  # the query's prompt, printed
    assert "Tool list_files exited with code 0" in out, out  # run after the example's "allow"


async def test_the_mcp_example_lists_the_twins_and_gets_the_answer(doors: Doors) -> None:
    out = await doors.run(example("from mcp.client.session import"))
    assert "ask_orchestrator" in out and "You said: hello" in out, out
