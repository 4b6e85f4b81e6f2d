"""Small things a buggy client or a hostile tool tried, each answered with a clear 4xx or an error
result in bounded time, against the real stack (nats-server, edge, planner, workers, bubblewrap)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bus_schemas import ChatIn, Envelope
from bus_schemas.subjects import CHAT_OUT, DEAD_LETTER_PREFIX, TOOL_RESULT, one_session
from bus_schemas.tool import ToolResult, ToolRun
from bus_schemas.web import MAX_SEQ
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi.service import READY_LINE
from pagi_cli.nats_server import NatsServer
from tool_worker.service import ToolWorker

from ..build_worker.conftest import StartBuilder, start_builder
from ..build_worker.test_bus import build_event, build_result
from ..ports import free_ports
from ..support import ObserveFactory
from ..up import Up
from ..workers_support import put_twin, result_for, run_event
from .conftest import state_dir

__all__ = ["start_builder", "state_dir"]

Client = TestClient[web.Request, web.Application]
LONG_NAME = "a" * 65


async def problem_of(resp: Any) -> str:
    body = await resp.json()
    return " ".join([body["error"], *(f"{d['field']}: {d['problem']}" for d in body.get("details", []))])


# 1. after_seq


async def test_audit_after_seq_is_a_bounded_whole_number(edge: Client, session_id: str) -> None:
    for bad in ("99999999999999999999999", str(MAX_SEQ + 1), "-1", "12abc", "9" * 5000):
        resp = await edge.get("/v1/audit", params={"session": session_id, "after_seq": bad})
        assert resp.status == 400, (bad[:30], await resp.text())
        assert "invalid after_seq" in await problem_of(resp)
    resp = await edge.get("/v1/audit", params={"session": session_id, "after_seq": str(MAX_SEQ)})
    assert resp.status == 200 and (await resp.json())["events"] == []


async def test_a_websocket_resume_point_beyond_any_stream_is_an_error_frame(edge: Client, session_id: str) -> None:
    async with edge.ws_connect("/ws/chat/alice") as ws:
        await ws.send_json({"session_id": session_id, "user_id": "alice", "message": "hi", "resume_from": MAX_SEQ + 1})
        frame = await ws.receive_json(timeout=5)
        assert frame["type"] == "status_update" and frame["status"] == "error"
        assert "resume_from" in frame["details"]
        # The socket stays usable: the next, valid frame is answered.
        await ws.send_json({"session_id": session_id, "user_id": "alice", "message": "hello"})
        while (frame := await ws.receive_json(timeout=15))["type"] != "complete_message":
            pass
        assert "hello" in frame["content"]


# 2. kb


async def test_an_invalid_kb_is_a_400_naming_it(edge: Client, memory_worker: MemoryWorker) -> None:
    resp = await edge.get("/v1/memory/search", params={"q": "anything", "kb": "k" * 40})
    assert resp.status == 400 and "kb:" in await problem_of(resp)
    resp = await edge.get("/v1/memory/search", params={"q": "anything", "kb": "nosuch"})
    assert resp.status == 400 and "unknown knowledge base" in (await resp.json())["error"]
    # A valid kb reaches the worker, which knows no such namespace yet.
    resp = await edge.get("/v1/memory/search", params={"q": "anything", "kb": "mind", "namespace": "empty"})
    assert resp.status == 404 and (await resp.json())["kind"] == "unknown_namespace"


# 3. memory ids


async def test_a_memory_id_that_is_not_a_uuid_is_a_400_at_once(edge: Client) -> None:
    """No memory worker runs here: the answer cannot have come from waiting on the bus."""
    for method in ("GET", "DELETE"):
        started = time.monotonic()
        resp = await edge.request(method, "/v1/memory/not-a-uuid")
        assert resp.status == 400 and "a memory id is a UUID" in (await resp.json())["error"]
        assert time.monotonic() - started < 1.0


async def test_a_well_formed_unknown_memory_id_is_a_404(edge: Client, memory_worker: MemoryWorker) -> None:
    unknown = str(uuid.uuid4())
    resp = await edge.get(f"/v1/memory/{unknown}")
    assert resp.status == 404 and unknown in (await resp.json())["error"]
    resp = await edge.delete(f"/v1/memory/{unknown.upper()}")
    assert resp.status == 404


# 4. tool names


async def test_a_chat_command_with_a_65_character_tool_name_is_refused_at_the_door(
    edge: Client, session_id: str
) -> None:
    for path, body in (
        ("/v1/chat", {"message": f"/tool {LONG_NAME} {{}}", "session_id": session_id}),
        ("/plan", {"prompt": f"/build {LONG_NAME} python\nprint(1)", "session_id": session_id}),
    ):
        started = time.monotonic()
        resp = await edge.post(path, json=body)
        assert resp.status == 400, await resp.text()
        assert "needs a tool name of 1-64 characters" in await problem_of(resp)
        assert time.monotonic() - started < 2.0
    async with edge.ws_connect("/ws/chat/alice") as ws:
        await ws.send_json({"session_id": session_id, "user_id": "alice", "message": f"/tool {LONG_NAME}"})
        frame = await ws.receive_json(timeout=5)
        assert frame["status"] == "error" and "needs a tool name" in frame["details"]


async def test_a_65_character_tool_name_sent_on_the_bus_is_answered_once_not_retried(
    bus: Bus, session_id: str, observe: ObserveFactory, planner: object
) -> None:
    events = await observe(one_session(session_id))
    dead = await observe(f"{DEAD_LETTER_PREFIX}.>")
    for message in (f"/tool {LONG_NAME} {{}}", f"/build {LONG_NAME} python\nprint(1)"):
        await bus.publish(Envelope[ChatIn](type="chat.in", session_id=session_id, body=ChatIn(message=message)))
    answers = await events.wait_count(CHAT_OUT, 2, timeout=10)
    for answer in answers:
        assert "tool_name" in answer.body.content and "64 characters" in answer.body.content, answer.body.content
    assert dead.events == []


async def test_the_tool_worker_answers_an_unusable_request_at_once_without_redelivery(
    bus: Bus, session_id: str, observe: ObserveFactory, tool_worker: ToolWorker
) -> None:
    await put_twin(bus, allowed_tools=["Bad.Name"], always_allow=["Bad.Name"])
    events = await observe(one_session(session_id))
    dead = await observe(f"{DEAD_LETTER_PREFIX}.>")
    await bus.publish(run_event(session_id, "python", {}, None, "bad id with spaces"))
    refused = await result_for(events, "bad id with spaces")
    assert refused.reason == "invalid_arguments" and "invalid request id" in (refused.error or "")
    await bus.publish(run_event(session_id, "Bad.Name", {}, None, "r-bad-name"))
    refused = await result_for(events, "r-bad-name")
    assert refused.reason == "unknown_tool" and "invalid tool name" in (refused.error or "")
    # Answered once, never retried into a dead letter: a later request is answered after both.
    await bus.publish(run_event(session_id, "python", {}, None, "r-after"))
    await result_for(events, "r-after")
    assert len(events.of_type(TOOL_RESULT)) == 3
    assert dead.events == []


async def test_the_build_worker_answers_an_unusable_request_id_at_once(
    bus: Bus, session_id: str, observe: ObserveFactory, start_builder: StartBuilder
) -> None:
    await put_twin(bus)
    events = await observe(one_session(session_id))
    dead = await observe(f"{DEAD_LETTER_PREFIX}.>")
    await start_builder()
    await bus.publish(build_event(session_id, "bad id*", None))
    refused = await build_result(events, "bad id*", timeout=10)
    assert not refused.success and refused.reason == "invalid_name"
    assert "invalid request id" in (refused.error or "")
    assert dead.events == []


# 5. FIFOs


async def test_file_tools_refuse_a_fifo_at_once(
    bus: Bus, session_id: str, observe: ObserveFactory, tool_worker: ToolWorker
) -> None:
    await put_twin(bus, always_allow=["command_exec", "file_read", "file_write"])
    events = await observe(one_session(session_id))

    async def run(request_id: str, tool: str, args: dict[str, Any]) -> ToolResult:
        body = ToolRun(request_id=request_id, tool_name=tool, args=args)
        await bus.publish(
            Envelope[ToolRun](type="tool.run", session_id=session_id, job_id="j", twin_id="orchestrator", body=body)
        )
        return await result_for(events, request_id)

    made = await run("r-mkfifo", "command_exec", {"cmd": "mkfifo pipe && test -p pipe && echo made"})
    assert made.stdout.strip() == "made", made
    for request_id, tool, args in (
        ("r-read", "file_read", {"path": "pipe"}),
        ("r-write", "file_write", {"path": "pipe", "content": "x"}),
    ):
        result = await run(request_id, tool, args)
        assert result.reason is None and result.exit_code == 2, result
        assert "not a regular file: pipe" in result.stderr
        assert result.duration_ms < 5_000  # not the run's timeout
    regular = await run("r-regular", "file_write", {"path": "notes.txt", "content": "kept"})
    assert regular.exit_code == 0
    assert (await run("r-read-regular", "file_read", {"path": "notes.txt"})).stdout == "kept"


# 6. slow headers


HEADER_TIMEOUT_S = 2.0


@pytest.fixture
async def edge_process(nats_server: NatsServer) -> AsyncIterator[int]:
    """`python -m edge` as a real process (its own server setup, not the test client's), on a free port."""
    [port] = free_ports(1)
    env = {**os.environ, "NATS_URL": nats_server.url, "PAGI_PORT": str(port),
           "PAGI_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}  # fmt: skip
    for name in ("PAGI_API_KEY", "PAGI_API_KEYS", "PAGI_HOST"):
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            while READY_LINE not in (line := (await proc.stdout.readline()).decode()):
                assert line, "the edge exited before it was ready"
        yield port
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


async def closed_after(reader: asyncio.StreamReader) -> tuple[float, bytes]:
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), HEADER_TIMEOUT_S + 10)
    return time.monotonic() - started, data


async def test_a_connection_that_never_finishes_its_headers_is_closed(edge_process: int) -> None:
    # Half a header line, then nothing.
    reader, writer = await asyncio.open_connection("127.0.0.1", edge_process)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaa")
    await writer.drain()
    waited, data = await closed_after(reader)
    assert data == b"" and HEADER_TIMEOUT_S - 0.5 <= waited <= HEADER_TIMEOUT_S + 5
    writer.close()

    # Trickling a byte at a time does not extend it.
    reader, writer = await asyncio.open_connection("127.0.0.1", edge_process)
    writer.write(b"GET /health HTTP/1.1\r\nX-Slow: ")

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.25)
            writer.write(b"a")

    trickling = asyncio.create_task(trickle())
    try:
        waited, data = await closed_after(reader)
    finally:
        trickling.cancel()
    assert data == b"" and waited <= HEADER_TIMEOUT_S + 5
    writer.close()

    # A client that sends its request whole is answered as ever.
    reader, writer = await asyncio.open_connection("127.0.0.1", edge_process)
    writer.write(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{edge_process}\r\nConnection: close\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    assert answer.startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in answer
    writer.close()


# 7. Save to Memory under the real per-service permissions


async def test_save_to_memory_works_under_pagi_ups_per_service_users(pagi_up: Up) -> None:
    """`pagi up` runs nats-server with nats.conf: every service is its own NATS user."""
    session = f"save-{uuid.uuid4().hex[:8]}"
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(pagi_up.url, timeout=timeout) as http:
        async with http.post("/v1/chat", json={"message": "hello", "session_id": session}) as chat:
            assert chat.status == 200, await chat.text()
        started = time.monotonic()
        body = {"session_id": session, "text": "The backup window is 02:00-03:00 UTC.", "source": "message:m1"}
        async with http.post("/v1/memory", json=body) as saved:
            assert saved.status == 201, await saved.text()
            memory_id = (await saved.json())["id"]
        assert time.monotonic() - started < 10
        async with http.get(f"/v1/memory/{memory_id}") as found:
            assert found.status == 200 and (await found.json())["text"] == body["text"]
        async with http.post("/v1/memory", json={**body, "kb": "nosuch"}) as refused:
            assert refused.status == 400 and "unknown knowledge base" in (await refused.json())["error"]
