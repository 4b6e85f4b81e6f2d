"""The seed's guide's example requests, sent as written (c04ch1337/pagi-digital-twin at 830b5b7:
README.md), against the real stack (nats-server and every service as its own process): each
succeeds on PAGI's edge. Then the same entry points as a second user (keys mode) and with
malformed bodies, and development mode's one rule for a missing user, swept over the read routes."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pagi.tracecontext import w3c_trace_id_for

from ..ports import free_port
from ..stack import UNTHROTTLED, Service, Stack
from ..support import eventually, eventually_sync

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
JSON = {"Content-Type": "application/json"}
TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass
class Edges:
    stack: Stack
    dev: str  # development mode: no keys
    keyed: str  # keys mode (alice, bob), the same bus and workers
    keyed_log: Path


@pytest.fixture(scope="module")
def edges() -> Iterator[Edges]:
    root = Path(tempfile.mkdtemp(prefix="pagi-seed-"))
    root.chmod(0o711)
    stack = Stack(root / "stack", extra_env=UNTHROTTLED)
    keyed: Service | None = None
    try:
        stack.start()
        port = free_port()
        env = {**stack.env(), "PAGI_PORT": str(port), "PAGI_API_KEYS": f"{ALICE}:alice,{BOB}:bob"}
        keyed = Service("edge-keyed", [sys.executable, "-m", "edge"], env, stack.root / "edge-keyed.log")
        keyed.start()
        url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            keyed.check_running()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    return True
            except OSError:
                return False

        eventually_sync(answering, 60, 0.1, "the keys-mode edge answering")
        yield Edges(stack, stack.edge_url, url, keyed.log_path)
    finally:
        if keyed is not None:
            keyed.stop()
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def send(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, Mapping[str, str]]:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    async with http.request(method, url, data=data, headers={**JSON, **(headers or {})}) as response:
        text = await response.text()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return response.status, parsed, response.headers


def key(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ALICE if who == 'alice' else BOB}"}


# --- the guide's requests, as written ---------------------------------------------------------------


async def test_fresh_store_memory_search_is_empty_not_unknown(edges: Edges, http: aiohttp.ClientSession) -> None:
    # Before anything is saved: the README's search answers no results, not "unknown namespace 'default'".
    status, body, _ = await send(http, "GET", f"{edges.dev}/v1/memory/search?q=SSH")
    assert (status, body) == (200, {"results": []})
    status, body, _ = await send(http, "POST", f"{edges.dev}/v1/memory/query", {"query": "SSH"})
    assert (status, body) == (200, {"results": []})
    # A namespace nobody has used is still unknown, and says so.
    status, body, _ = await send(http, "GET", f"{edges.dev}/v1/memory/search?q=SSH&namespace=nowhere")
    assert status == 404 and body["kind"] == "unknown_namespace"


async def test_plan_keeps_the_callers_trace_id(edges: Edges, http: aiohttp.ClientSession) -> None:
    # curl -X POST http://localhost:8585/plan -H "Content-Type: application/json" -H "X-Trace-ID: test-trace-123"
    #   -d "{\"prompt\":\"Generate a 3-step plan\",\"session_id\":\"s1\",\"resources\":[] }"
    status, body, headers = await send(
        http,
        "POST",
        f"{edges.dev}/plan",
        '{"prompt":"Generate a 3-step plan","session_id":"s1","resources":[] }',
        {"X-Trace-ID": "test-trace-123"},
    )
    assert status == 200, body
    assert headers["X-Trace-ID"] == "test-trace-123" and body["trace_id"] == "test-trace-123"
    assert body["status"] == "completed" and body["session_id"] == "s1" and body["plan"]
    job_id = body["job_id"]

    # The audit: every event of the job is in the trace the caller's id stands for; the job's
    # opening event keeps the id as given.
    status, audit, _ = await send(http, "GET", f"{edges.dev}/v1/audit?session=s1")
    assert status == 200
    of_job = [e for e in audit["events"] if e.get("event", {}).get("job_id") == job_id]
    assert {e["type"] for e in of_job} >= {"chat.in", "chat.out"}
    assert {e["trace_id"] for e in of_job} == {w3c_trace_id_for("test-trace-123")}
    opening = next(e for e in of_job if e["type"] == "chat.in")
    assert opening["event"]["trace_label"] == "test-trace-123"

    # The same id always stands for the same trace: asked again, the same W3C id.
    _, again, _ = await send(
        http, "POST", f"{edges.dev}/plan", {"prompt": "again", "session_id": "s1"}, {"X-Trace-ID": "test-trace-123"}
    )
    _, audit, _ = await send(http, "GET", f"{edges.dev}/v1/audit?session=s1&type=chat.in")
    traces = {e["trace_id"] for e in audit["events"] if e["event"]["job_id"] in (job_id, again["job_id"])}
    assert traces == {w3c_trace_id_for("test-trace-123")}


async def test_python_agent_plan(edges: Edges, http: aiohttp.ClientSession) -> None:
    # curl -X POST http://localhost:8000/api/v1/plan -H "Content-Type: application/json" \
    #   -H "X-Request-Id: test-456" -d '{"prompt": "Generate a 3-step plan to solve X"}'
    status, body, headers = await send(
        http,
        "POST",
        f"{edges.dev}/api/v1/plan",
        '{"prompt": "Generate a 3-step plan to solve X"}',
        {"X-Request-Id": "test-456"},
    )
    assert status == 200, body
    assert {"service", "status", "plan", "llm_response", "bff_echo"} <= set(body)
    assert body["status"] == "ok" and body["plan"]["prompt"] == "Generate a 3-step plan to solve X"
    assert body["plan"]["llm_plan"] and body["llm_response"]["plan"] == body["plan"]["llm_plan"]
    assert body["request_id"] == "test-456" == headers["X-Request-Id"] == body["bff_echo"]["request_id"]


async def test_sandbox_execute_tool_as_written(edges: Edges, http: aiohttp.ClientSession) -> None:
    # curl -X POST http://localhost:8001/api/v1/execute_tool -H "Content-Type: application/json" \
    #   -H "X-Request-Id: test-789" -d '{"tool_name": "demo"}'
    status, body, _ = await send(
        http, "POST", f"{edges.dev}/api/v1/execute_tool", '{"tool_name": "demo"}', {"X-Request-Id": "test-789"}
    )
    # Answered as the seed's own sandbox answered it (backend-rust-sandbox/src/tool_executor.rs: a
    # name it has no tool for is HTTP 200, status `unknown_tool`, the request echoed): PAGI has no
    # tool `demo` either, and the twin's policy says so rather than running anything.
    assert status == 200, body
    assert body["tool_status"] == "unknown_tool" and "'demo'" in body["result"]["message"]
    assert body["result"]["tool_name"] == "demo" and body["result"]["echo"] == {}


async def test_execute_tool_waits_for_its_approval(edges: Edges, http: aiohttp.ClientSession) -> None:
    status, pending, _ = await send(
        http, "POST", f"{edges.dev}/api/v1/execute_tool", {"tool_name": "python", "code": "print(6 * 7)"}
    )
    assert status == 202 and pending["tool_status"] == "pending_approval", pending
    approval_id, job_id = pending["approval_id"], pending["job_id"]
    assert pending["result"]["decide"] == f"POST /v1/approvals/{approval_id}"
    poll = f"{edges.dev}/api/v1/execute_tool/{job_id}"
    assert pending["result"]["poll"] == f"GET /api/v1/execute_tool/{job_id}"

    # Asking again before anyone decides: still the pending approval, nothing ran.
    status, again, _ = await send(http, "GET", poll)
    assert status == 202 and again["tool_status"] == "pending_approval" and again["approval_id"] == approval_id

    status, _, _ = await send(http, "POST", f"{edges.dev}/v1/approvals/{approval_id}", {"approved": True})
    assert status in (200, 202)

    async def ran() -> Any:
        status, body, _ = await send(http, "GET", poll)
        return body if status == 200 else None

    done = await eventually(ran, 30, 0.1, "the approved tool run's result")
    assert done["tool_status"] == "success", done  # what went wrong, said by the answer itself
    assert done["result"]["stdout"] == "42\n" and done["result"]["exit_code"] == 0, done

    # Denied: the answer says so, and the code never ran.
    _, second, _ = await send(
        http, "POST", f"{edges.dev}/api/v1/execute_tool", {"tool_name": "command_exec", "code": "echo ran"}
    )
    assert second["tool_status"] == "pending_approval"
    await send(http, "POST", f"{edges.dev}/v1/approvals/{second['approval_id']}", {"approved": False})

    async def denied() -> Any:
        status, body, _ = await send(http, "GET", f"{edges.dev}/api/v1/execute_tool/{second['job_id']}")
        return body if status == 200 else None

    assert (await eventually(denied, 30, 0.1, "the denied run's answer"))["tool_status"] == "denied"


async def test_mock_memory_latest_and_gateway_health(edges: Edges, http: aiohttp.ClientSession) -> None:
    session = "latest-one"
    status, said, _ = await send(
        http, "POST", f"{edges.dev}/v1/chat", {"message": "remember the blue door", "session_id": session}
    )
    assert status == 200 and said["status"] == "completed", said

    async def latest() -> Any:
        # The job's record may be written a moment after its answer was sent: wait for it.
        status, body, _ = await send(http, "GET", f"{edges.dev}/memory/latest")
        assert status == 200, body
        return body if body["session_id"] == session else None

    body = await eventually(latest, 10, 0.05, f"the latest session to be {session}")
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert body["messages"][0]["text"] == "remember the blue door"
    status, named, _ = await send(http, "GET", f"{edges.dev}/memory/latest?session_id={session}")
    assert status == 200 and named == body

    async with http.get(f"{edges.dev}/api/health") as response:
        assert response.status == 200 and await response.text() == "Gateway operational"


async def test_events_stream_as_the_readme_documents(edges: Edges, http: aiohttp.ClientSession) -> None:
    """`GET /v1/events/stream?session=ID` in development mode, with no user, as POST /v1/chat takes one."""
    await send(http, "POST", f"{edges.dev}/v1/chat", {"message": "Hello", "session_id": "test"})
    async with http.get(f"{edges.dev}/v1/events/stream?session=test", headers={"Accept": "text/event-stream"}) as r:
        assert r.status == 200, await r.text()
        seen = await _events_until(r, "caught_up")
    assert "chat.in" in seen and "chat.out" in seen


async def _events_until(response: aiohttp.ClientResponse, wanted: str) -> list[str]:
    names: list[str] = []
    async with asyncio.timeout(15):
        async for raw in response.content:
            line = raw.decode().strip()
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
                names.append(name)
                if name == wanted:
                    return names
            elif line.startswith("data:"):
                data = json.loads(line.removeprefix("data:"))
                if isinstance(data, dict) and data.get("type") == "event":
                    names.append(str(data["event_type"]))
    return names


async def test_development_mode_reads_need_no_user(edges: Edges, http: aiohttp.ClientSession) -> None:
    """Every read route treats a missing user as POST /v1/chat does: the one person at the machine."""
    session = "dev-sweep"
    status, chat, _ = await send(http, "POST", f"{edges.dev}/v1/chat", {"message": "hello", "session_id": session})
    assert status == 200
    reads = [
        f"/v1/sessions/{session}/history",
        f"/v1/audit?session={session}",
        f"/v1/jobs/{chat['job_id']}",
        "/v1/approvals",
        "/v1/search?q=hello",
        "/v1/memory/search?q=hello",
        "/v1/memory/namespaces",
        f"/memory/latest?session_id={session}",
        "/v1/telemetry/hosts",
        "/v1/twins",
        "/v1/tools",
        "/api/v1/agi/dashboard-data",
    ]
    for path in reads:
        status, body, _ = await send(http, "GET", f"{edges.dev}{path}")
        assert status == 200, (path, status, body)
    for stream in (f"/v1/events/stream?session={session}", "/v1/telemetry/stream?since=0"):
        async with http.get(f"{edges.dev}{stream}", headers={"Accept": "text/event-stream"}) as response:
            assert response.status == 200, (stream, await response.text())
            assert "caught_up" in await _events_until(response, "caught_up")


# --- a hostile X-Trace-ID ----------------------------------------------------------------------------


async def raw_request(url: str, head: bytes) -> bytes:
    """One HTTP/1.1 request written byte for byte (a client library refuses control characters)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()


async def test_hostile_trace_ids_are_replaced_with_a_reason(edges: Edges, http: aiohttp.ClientSession) -> None:
    huge = "t" * 5000
    status, _, headers = await send(http, "GET", f"{edges.dev}/v1/twins", headers={"X-Trace-ID": huge})
    assert status == 200
    assert headers["X-Trace-ID"] != huge and len(headers["X-Trace-ID"]) == 32
    assert "longer than 128" in headers["X-Trace-ID-Refused"]

    marker = "INJECTED-LOG-LINE-e7"
    host = edges.dev.removeprefix("http://")
    hostile = f"abc\x1b[31m{marker}"
    request = f"GET /v1/twins HTTP/1.1\r\nHost: {host}\r\nX-Trace-ID: {hostile}\r\nConnection: close\r\n\r\n"
    answer = await raw_request(edges.dev, request.encode())
    head = answer.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    # aiohttp's own parser refuses a control character in a header before any handler sees it.
    assert head.startswith("HTTP/1.0 400") or "X-Trace-ID-Refused" in head, head
    assert marker not in head
    # What the parser lets through (spaces, markup, non-ASCII) the edge replaces, saying why.
    for odd in ("<script>alert(1)</script>", "trace with spaces", "tr\u00e4ce"):
        status, _, headers = await send(
            http, "GET", f"{edges.dev}/v1/twins", headers={"X-Trace-ID": odd.encode().decode("latin-1")}
        )
        assert status == 200 and len(headers["X-Trace-ID"]) == 32, odd
        assert headers["X-Trace-ID-Refused"].startswith("X-Trace-ID ignored: use only"), odd
    # A plan with a refused id runs, under a new trace, and records no label.
    status, plan, headers = await send(
        http, "POST", f"{edges.dev}/plan", {"prompt": "hi", "session_id": "hostile-trace"}, {"X-Trace-ID": "a b"}
    )
    assert status == 200 and plan["trace_id"] == headers["X-Trace-ID"] and len(plan["trace_id"]) == 32
    _, audit, _ = await send(http, "GET", f"{edges.dev}/v1/audit?session=hostile-trace&type=chat.in")
    assert [e["event"]["trace_label"] for e in audit["events"]] == [None]
    # Never logged raw, by either edge.
    logs = edges.stack.services["edge"].log_path.read_text(errors="replace")
    # (aiohttp's parser logs the refused header escaped, as a repr: the control character itself never.)
    assert "\x1b[31m" not in logs and huge not in logs and "<script>alert" not in logs


# --- malformed bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        ("/api/v1/plan", {"prompt": 5}, "prompt"),
        ("/api/v1/plan", {"prompt": "x", "extra": 1}, "extra"),
        ("/api/v1/plan", {"prompt": ""}, "prompt"),
        ("/api/v1/plan", "[1, 2", "JSON"),
        ("/api/v1/execute_tool", {}, "tool_name"),
        ("/api/v1/execute_tool", {"tool_name": "../../bin/sh"}, "tool_name"),
        ("/api/v1/execute_tool", {"tool_name": "python", "code": 7}, "code"),
        ("/api/v1/execute_tool", {"tool_name": "python", "args": "rm"}, "args"),
        ("/api/v1/execute_tool", {"tool_name": "python", "code": "x" * 40_000}, "characters"),
        ("/api/v1/execute_tool", {"tool_name": "python", "session_id": "no spaces"}, "session_id"),
        ("/v1/memory/query", {"query": ""}, "query"),
        ("/v1/memory/query", {"query": "x", "top_k": 0}, "top_k"),
        ("/v1/memory/query", {"query": "x", "namespace": "a/b"}, "namespace"),
    ],
)
async def test_malformed_bodies_are_400s_that_say_what(
    edges: Edges, http: aiohttp.ClientSession, path: str, body: Any, problem: str
) -> None:
    status, answer, _ = await send(http, "POST", f"{edges.dev}{path}", body)
    assert status == 400, answer
    assert problem in json.dumps(answer), answer
    # Nothing else is blocked: the next good request is answered.
    status, _, _ = await send(http, "POST", f"{edges.dev}/v1/memory/query", {"query": "fine"})
    assert status == 200


async def test_unknown_tool_run_id_is_a_404(edges: Edges, http: aiohttp.ClientSession) -> None:
    status, body, _ = await send(http, "GET", f"{edges.dev}/api/v1/execute_tool/no-such-job")
    assert status == 404 and "no tool run" in body["error"]
    status, body, _ = await send(http, "GET", f"{edges.dev}/api/v1/execute_tool/bad%20id")
    assert status == 400


# --- keys mode: a second user ---------------------------------------------------------------------------


async def test_keys_mode_second_user(edges: Edges, http: aiohttp.ClientSession) -> None:
    k = edges.keyed
    status, pending, _ = await send(
        http,
        "POST",
        f"{k}/api/v1/execute_tool",
        {"tool_name": "python", "code": "print('alice')", "session_id": "alice-tools"},
        key("alice"),
    )
    assert status == 202 and pending["tool_status"] == "pending_approval", pending
    job = pending["job_id"]

    # Bob cannot see alice's run, run in her session, or plan in it.
    status, _, _ = await send(http, "GET", f"{k}/api/v1/execute_tool/{job}", headers=key("bob"))
    assert status == 404
    status, refused, _ = await send(
        http, "POST", f"{k}/api/v1/execute_tool", {"tool_name": "python", "session_id": "alice-tools"}, key("bob")
    )
    assert status == 403 and "another user" in refused["error"]
    status, refused, _ = await send(
        http, "POST", f"{k}/api/v1/plan", {"prompt": "hi", "session_id": "alice-tools"}, key("bob")
    )
    assert status == 403

    # Bob cannot read alice's memory: not her session's messages, not her namespace.
    status, _, _ = await send(http, "GET", f"{k}/memory/latest?session_id=alice-tools", headers=key("bob"))
    assert status == 404
    status, latest, _ = await send(http, "GET", f"{k}/memory/latest", headers=key("bob"))
    assert status == 200 and latest["session_id"] != "alice-tools"
    status, _, _ = await send(
        http, "POST", f"{k}/v1/memory/query", {"query": "x", "namespace": "user-alice"}, key("bob")
    )
    assert status == 404
    status, _, _ = await send(http, "GET", f"{k}/v1/memory/search?q=x&namespace=user-alice", headers=key("bob"))
    assert status == 404
    # Alice reads her own (empty, not unknown) namespace and her latest session.
    status, mine, _ = await send(
        http, "POST", f"{k}/v1/memory/query", {"query": "x", "namespace": "user-alice"}, key("alice")
    )
    assert (status, mine) == (200, {"results": []})
    status, latest, _ = await send(http, "GET", f"{k}/memory/latest", headers=key("alice"))
    assert status == 200 and latest["session_id"] == "alice-tools"

    # No key: refused everywhere, the mock memory's path included.
    for method, path in (("GET", "/memory/latest"), ("GET", "/api/health"), ("POST", "/api/v1/plan")):
        status, _, _ = await send(http, method, f"{k}{path}", {"prompt": "x"} if method == "POST" else None)
        assert status == 401, path

    # Alice's run is still hers to decide, and answers her.
    status, still, _ = await send(http, "GET", f"{k}/api/v1/execute_tool/{job}", headers=key("alice"))
    assert status == 202 and still["approval_id"] == pending["approval_id"]
