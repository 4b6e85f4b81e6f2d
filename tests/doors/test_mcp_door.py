"""The MCP server door (edge/doors/mcp_server.py) with the official `mcp` SDK's Streamable HTTP client
against the real stack (tests/doors/mcp_stack.py): the tools are the caller's twins, a greeting, an
approval in the middle (progress says so; approved over HTTP, the call completes; denied, the call
answers the denial), a client-side cancellation cancels the PAGI job, the resources (history, prompt)
and who may read them, and the refusals in JSON-RPC's shape (no key, a bad key, a foreign Origin,
malformed bodies, another user's MCP session id), each followed by a request that still works; and a
client nobody here wrote, the MCP Inspector's CLI (npm), listing the twins and asking one."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from ..support import eventually, run_bounded
from ..workers_support import state_dir
from .mcp_stack import KEYS, NEEDS_APPROVAL, McpStack, mcp_stack

__all__ = ["mcp_stack", "state_dir"]

pytestmark = pytest.mark.timeout(180)

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
WAITING_RE = re.compile(r"waiting for approval ([A-Za-z0-9_-]{1,64})\b")
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"},
    },
}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def _text(result: types.CallToolResult) -> str:
    return "".join(part.text for part in result.content if isinstance(part, types.TextContent))


class Progress:
    """The progress notifications of one call, as the SDK hands them to its progress_callback."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")

    def approval_id(self) -> str | None:
        for message in self.messages:
            if match := WAITING_RE.search(message):
                return match.group(1)
        return None


async def wait_for_approval(progress: Progress, call: asyncio.Task[Any]) -> str:
    def asked() -> str | None:
        if call.done():
            raise AssertionError(f"the call ended before asking: {call.result()}")
        return progress.approval_id()

    approval_id = await eventually(asked, timeout=30, interval=0.05, what="progress saying waiting for approval")
    assert approval_id is not None
    return approval_id


def jsonrpc_error(body: str) -> dict[str, Any]:
    """The error of a JSON-RPC answer, sent as JSON or as one SSE event."""
    data = body
    if body.lstrip().startswith(("event:", "data:", "id:")):
        data = next(line[5:] for line in body.splitlines() if line.startswith("data:"))
    error: dict[str, Any] = json.loads(data)["error"]
    return error


async def open_raw_session(http: httpx2.AsyncClient, url: str) -> dict[str, str]:
    """An MCP session opened by hand (initialize, initialized); the headers its later requests carry."""
    opened = await http.post(url, json=INITIALIZE)
    assert opened.status_code == 200, opened.text
    headers = {"Mcp-Session-Id": opened.headers["Mcp-Session-Id"], "Mcp-Protocol-Version": LATEST_HANDSHAKE_VERSION}
    assert (await http.post(url, json=INITIALIZED, headers=headers)).status_code == 202
    return headers


async def hello_works(stack: McpStack, user: str = "alice") -> None:
    async with stack.session(user) as session:
        result = await session.call_tool("ask_orchestrator", {"message": "hello after"})
    assert not result.is_error and "You said: hello after" in _text(result), _text(result)


async def test_tools_are_the_callers_twins(mcp_stack: McpStack) -> None:
    async with mcp_stack.session("alice") as alice:
        tools = {tool.name: tool for tool in (await alice.list_tools()).tools}
    async with mcp_stack.session("bob") as bob:
        bobs = {tool.name for tool in (await bob.list_tools()).tools}
        # Another user's private twin is an unknown tool, never "exists but not yours".
        with pytest.raises(MCPError, match="Unknown tool: ask_alice-notes") as caught:
            await bob.call_tool("ask_alice-notes", {"message": "hello"})
        assert caught.value.error.code == types.INVALID_PARAMS
        with pytest.raises(MCPError, match="Unknown tool: ask_nobody"):
            await bob.call_tool("ask_nobody", {"message": "hello"})
    assert {"ask_orchestrator", "ask_alice-notes"} <= set(tools) and "ask_bob-secret" not in tools
    assert {"ask_orchestrator", "ask_bob-secret"} <= bobs and "ask_alice-notes" not in bobs
    assert tools["ask_orchestrator"].input_schema["required"] == ["message"]
    async with mcp_stack.session("root") as root:
        assert {"ask_alice-notes", "ask_bob-secret"} <= {t.name for t in (await root.list_tools()).tools}


async def test_a_greeting_answered_in_a_pagi_session(mcp_stack: McpStack) -> None:
    async with mcp_stack.session("alice") as alice:
        result = await alice.call_tool("ask_orchestrator", {"message": "hello"})
        bad = await alice.call_tool("ask_orchestrator", {"text": "no message"})
    assert not result.is_error, _text(result)
    assert "Hello, this is orchestrator" in _text(result) and "You said: hello" in _text(result)
    assert result.meta is not None
    job = await mcp_stack.job(result.meta["pagi/job_id"], "alice")
    assert job["status"] == "completed" and job["session_id"] == result.meta["pagi/session_id"]
    # A tool's bad input is the tool's answer, so a model can correct itself.
    assert bad.is_error and "invalid arguments" in _text(bad) and "message" in _text(bad)


async def test_an_approval_reported_as_progress_then_approved_over_http(mcp_stack: McpStack) -> None:
    async with mcp_stack.session("alice") as alice:
        progress = Progress()
        call = asyncio.create_task(
            alice.call_tool("ask_orchestrator", {"message": NEEDS_APPROVAL}, progress_callback=progress)
        )
        approval_id = await wait_for_approval(progress, call)
        assert f"POST /v1/approvals/{approval_id}" in " ".join(progress.messages)
        assert not call.done(), "the call stays open while the approval waits"
        assert await mcp_stack.decide(approval_id, "bob", approved=True) == 404, "not bob's to decide"
        assert await mcp_stack.decide(approval_id, "alice", approved=True) == 202
        result = await asyncio.wait_for(call, 60)
    assert not result.is_error, _text(result)
    assert result.meta is not None
    assert (await mcp_stack.job(result.meta["pagi/job_id"], "alice"))["status"] == "completed"


async def test_a_denial_is_the_calls_answer(mcp_stack: McpStack) -> None:
    async with mcp_stack.session("alice") as alice:
        progress = Progress()
        call = asyncio.create_task(
            alice.call_tool("ask_orchestrator", {"message": NEEDS_APPROVAL}, progress_callback=progress)
        )
        approval_id = await wait_for_approval(progress, call)
        assert await mcp_stack.decide(approval_id, "alice", approved=False) == 202
        result = await asyncio.wait_for(call, 60)
    assert "denied" in _text(result).lower(), _text(result)
    assert result.meta is not None
    assert (await mcp_stack.job(result.meta["pagi/job_id"], "alice"))["status"] in ("completed", "failed")


async def test_cancelling_the_call_cancels_the_job(mcp_stack: McpStack) -> None:
    async with mcp_stack.session("alice") as alice:
        progress = Progress()
        call = asyncio.create_task(
            alice.call_tool("ask_orchestrator", {"message": NEEDS_APPROVAL}, progress_callback=progress)
        )
        approval_id = await wait_for_approval(progress, call)
        [approval] = [a for a in await mcp_stack.pending_approvals("alice") if a["approval_id"] == approval_id]
        job_id = approval["job_id"]
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

        async def cancelled() -> bool:
            return bool((await mcp_stack.job(job_id, "alice"))["status"] == "cancelled")

        await eventually(cancelled, timeout=30, interval=0.1, what="the job cancelled by the MCP client")
        # The session is still usable after a cancelled call.
        again = await alice.call_tool("ask_orchestrator", {"message": "hello after"})
    assert "You said: hello after" in _text(again)
    assert approval_id not in {a["approval_id"] for a in await mcp_stack.pending_approvals("alice")}


async def test_resources_are_read_by_their_owner_only(mcp_stack: McpStack) -> None:
    async with mcp_stack.session("alice") as alice:
        result = await alice.call_tool("ask_orchestrator", {"message": "hello history", "session_id": "mcp-hist-1"})
        assert not result.is_error, _text(result)
        listed = {str(r.uri) for r in (await alice.list_resources()).resources}
        assert "pagi://sessions/mcp-hist-1/history" in listed and "pagi://twins/alice-notes/prompt" in listed
        templates = {t.uri_template for t in (await alice.list_resource_templates()).resource_templates}
        assert templates == {"pagi://sessions/{session_id}/history", "pagi://twins/{twin_id}/prompt"}
        history = await alice.read_resource("pagi://sessions/mcp-hist-1/history")
        prompt = await alice.read_resource("pagi://twins/orchestrator/prompt")
    [contents] = history.contents
    assert isinstance(contents, types.TextResourceContents)
    messages = json.loads(contents.text)["messages"]
    assert [m["text"] for m in messages if m["role"] == "user"] == ["hello history"]
    assert any("You said: hello history" in m["text"] for m in messages if m["role"] != "user")
    [text] = prompt.contents
    assert isinstance(text, types.TextResourceContents) and text.text.strip()

    async with mcp_stack.session("bob") as bob:
        assert "pagi://sessions/mcp-hist-1/history" not in {str(r.uri) for r in (await bob.list_resources()).resources}
        for uri in ("pagi://sessions/mcp-hist-1/history", "pagi://twins/alice-notes/prompt"):
            with pytest.raises(MCPError, match="Resource not found") as caught:
                await bob.read_resource(uri)
            assert caught.value.error.code == -32002
        # bob may not continue alice's session through a tool either.
        refused = await bob.call_tool("ask_orchestrator", {"message": "hi", "session_id": "mcp-hist-1"})
        assert refused.is_error and "refused" in _text(refused), _text(refused)
    await hello_works(mcp_stack, "bob")


@pytest.mark.parametrize("key", [None, "not-a-key-of-anyone-0123"])
async def test_no_key_or_a_bad_key_is_a_401_in_json_rpc_shape(mcp_stack: McpStack, key: str | None) -> None:
    headers = {**ACCEPT, **({"Authorization": f"Bearer {key}"} if key else {})}
    async with mcp_stack.raw_client(None, **headers) as http:
        for method in ("POST", "GET", "DELETE"):
            response = await http.request(method, mcp_stack.url, json=INITIALIZE if method == "POST" else None)
            assert response.status_code == 401, (method, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            body = response.json()
            assert body["jsonrpc"] == "2.0" and body["id"] is None
            assert body["error"]["code"] == -32000 and "API key" in body["error"]["message"], body
    await hello_works(mcp_stack)


async def test_a_foreign_origin_is_refused_403(mcp_stack: McpStack) -> None:
    async with mcp_stack.raw_client("alice", **ACCEPT, Origin="https://evil.example") as http:
        for method in ("POST", "GET"):
            response = await http.request(method, mcp_stack.url, json=INITIALIZE if method == "POST" else None)
            assert response.status_code == 403, (method, response.text)
            assert response.json()["error"]["code"] == -32000 and "Origin" in response.json()["error"]["message"]
    await hello_works(mcp_stack)


async def test_malformed_bodies_get_clear_errors_and_the_next_request_works(mcp_stack: McpStack) -> None:
    async with mcp_stack.raw_client("alice", **ACCEPT) as http:
        not_json = await http.post(mcp_stack.url, content=b"{not json")
        assert not_json.status_code == 400 and jsonrpc_error(not_json.text)["code"] == types.PARSE_ERROR
        no_method = await http.post(mcp_stack.url, content=b'{"jsonrpc": "2.0", "id": 1}')
        assert no_method.status_code == 400 and jsonrpc_error(no_method.text)["code"] == types.INVALID_PARAMS
        deep = await http.post(mcp_stack.url, content=b"[" * 5000 + b"]" * 5000)
        assert deep.status_code == 400 and "nested deeper than" in jsonrpc_error(deep.text)["message"]
        huge = await http.post(mcp_stack.url, content=b'{"x": "' + b"y" * (300 * 1024) + b'"}')
        assert huge.status_code == 413 and "request body over" in jsonrpc_error(huge.text)["message"]
        plain = await http.post(mcp_stack.url, content=b"hello", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415 and "JSON" in jsonrpc_error(plain.text)["message"]
        # An unknown method inside a session: JSON-RPC's own -32601.
        headers = await open_raw_session(http, mcp_stack.url)
        explode = {"jsonrpc": "2.0", "id": 3, "method": "tools/explode", "params": {}}
        unknown = await http.post(mcp_stack.url, json=explode, headers=headers)
        assert jsonrpc_error(unknown.text)["code"] == types.METHOD_NOT_FOUND, unknown.text
        listed = await http.post(mcp_stack.url, json=TOOLS_LIST, headers=headers)
        assert listed.status_code == 200 and "ask_orchestrator" in listed.text, listed.text
    await hello_works(mcp_stack)


async def test_bob_reusing_alices_session_id_is_refused_and_hers_still_works(mcp_stack: McpStack) -> None:
    async with mcp_stack.raw_client("alice", **ACCEPT) as alice:
        headers = await open_raw_session(alice, mcp_stack.url)

        async with mcp_stack.raw_client("bob", **ACCEPT) as bob:
            for method in ("POST", "GET", "DELETE"):
                stolen = await bob.request(
                    method, mcp_stack.url, json=TOOLS_LIST if method == "POST" else None, headers=headers
                )
                assert stolen.status_code == 404, (method, stolen.text)
                assert "ask_" not in stolen.text

        listed = await alice.post(mcp_stack.url, json=TOOLS_LIST, headers=headers)
        assert listed.status_code == 200 and "ask_alice-notes" in listed.text, listed.text
        assert (await alice.delete(mcp_stack.url, headers=headers)).status_code == 200


INSPECTOR_TIMEOUT_S = 60.0


async def inspector(stack: McpStack, user: str, *args: str) -> dict[str, Any]:
    """The MCP Inspector's CLI (`@modelcontextprotocol/inspector-cli`, pinned in tests/clients), a client
    nobody here wrote, run as a user runs it against the edge's real port; its JSON answer."""
    command = ["npx", "--no-install", "@modelcontextprotocol/inspector-cli", "--cli", stack.url]
    command += ["--transport", "http", "--header", f"Authorization: Bearer {KEYS[user]}", *args]
    # cwd one level under tests/clients: inspector-cli 1.0.3 picks which package.json to import (its own,
    # `../package.json` from its build/) by whether `../package.json` exists from the CWD.
    out = await run_bounded(*command, cwd=CLIENTS / "bin", timeout=INSPECTOR_TIMEOUT_S, what="the inspector")
    answer: dict[str, Any] = json.loads(out)
    return answer


async def test_the_mcp_inspector_cli_lists_the_twins_and_asks_one(mcp_stack: McpStack) -> None:
    listed = await inspector(mcp_stack, "alice", "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert {"ask_orchestrator", "ask_alice-notes"} <= names and "ask_bob-secret" not in names, names
    called = await inspector(
        mcp_stack, "alice", "--method", "tools/call", "--tool-name", "ask_orchestrator", "--tool-arg", "message=hello"
    )
    assert not called.get("isError"), called
    text = "".join(part["text"] for part in called["content"] if part["type"] == "text")
    assert "Hello, this is orchestrator" in text and "You said: hello" in text, called
    bobs = await inspector(mcp_stack, "bob", "--method", "tools/list")
    assert "ask_alice-notes" not in {tool["name"] for tool in bobs["tools"]}
