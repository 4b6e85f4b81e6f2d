"""One trace per chat message, across the edge, the bus, the planner and a worker (the SDK's in-memory
exporter)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from pagi.bus import Bus
from pagi.service import start_routes
from pagi.tracecontext import CallerTrace, caller_trace, w3c_trace_id_for
from pagi.tracing import CALLER_TRACE_ATTRIBUTE
from records.twins import TwinStore
from tool_worker.service import open_tool_worker
from tool_worker.settings import ToolSettings

from ..support import eventually

Client = TestClient[web.Request, web.Application]


async def spans_of_trace(
    exporter: InMemorySpanExporter, trace_hex: str, names: set[str], timeout: float = 10.0
) -> list[ReadableSpan]:
    """Wait (bounded) until the trace holds a span of every name, then return the trace's spans."""

    def complete() -> list[ReadableSpan]:
        found = [s for s in exporter.get_finished_spans() if s.context and f"{s.context.trace_id:032x}" == trace_hex]
        return found if names <= {s.name for s in found} else []

    try:
        return await eventually(complete, timeout, 0.01)
    except AssertionError:
        seen = sorted((f"{s.context.trace_id:032x}"[:8], s.name) for s in exporter.get_finished_spans() if s.context)
        raise AssertionError(f"trace {trace_hex[:8]} lacks {names}; finished spans: {seen}") from None


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_chat_request_is_one_trace_from_the_edge_through_the_planner_and_back(
    edge: Client, spans: InMemorySpanExporter, session_id: str
) -> None:
    response = await edge.post("/v1/chat", json={"message": "trace me", "session_id": session_id})
    assert response.status == 200
    trace_hex = response.headers["X-Trace-ID"]
    job_id = (await response.json())["job_id"]
    names = {"POST /v1/chat", "chat message", "process chat.in", "receive chat.out"}
    trace = await spans_of_trace(spans, trace_hex, names)

    server, chat, process, receive = (
        one(trace, n) for n in ("POST /v1/chat", "chat message", "process chat.in", "receive chat.out")
    )
    assert server.kind == SpanKind.SERVER and attrs(server)["http.response.status_code"] == 200
    # Parent links: request -> chat message (published chat.in) -> the planner's handling (published
    # the answer) -> the answer arriving back at the edge.
    assert chat.parent and server.context and chat.parent.span_id == server.context.span_id
    assert process.parent and chat.context and process.parent.span_id == chat.context.span_id
    assert receive.parent and process.context and receive.parent.span_id == process.context.span_id
    assert process.parent.is_remote and receive.parent.is_remote

    assert process.kind == SpanKind.CONSUMER and receive.kind == SpanKind.CONSUMER
    a = attrs(process)
    assert a["messaging.system"] == "nats"
    assert a["messaging.destination.name"] == f"chat.in.{session_id}"
    assert a["messaging.message.id"] == job_id
    assert a["messaging.consumer.group.name"] == "planner-chat-in"
    assert a["pagi.session_id"] == session_id and a["pagi.job_id"] == job_id
    # The decision the planner published is named on the span that decided it.
    assert a["pagi.action_type"] == "ActionResponse"


async def test_the_callers_trace_is_kept(edge: Client, spans: InMemorySpanExporter, session_id: str) -> None:
    given = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{given}-00f067aa0ba902b7-01"
    response = await edge.post(
        "/v1/chat", json={"message": "hi", "session_id": session_id}, headers={"traceparent": parent}
    )
    assert response.headers["X-Trace-ID"] == given
    trace = await spans_of_trace(spans, given, {"POST /v1/chat", "process chat.in"})
    assert f"{one(trace, 'POST /v1/chat').parent.span_id:016x}" == "00f067aa0ba902b7"  # type: ignore[union-attr]

    other = "0af7651916cd43dd8448eb211c80319c"
    health = await edge.get("/health", headers={"X-Trace-ID": other})
    assert health.headers["X-Trace-ID"] == other
    missing = await edge.get("/no/such/page")
    assert missing.status == 404 and len(missing.headers["X-Trace-ID"]) == 32


async def test_a_callers_own_trace_id_is_answered_as_given_and_kept_on_the_span(
    edge: Client, spans: InMemorySpanExporter, session_id: str
) -> None:
    # The seed's guide: `POST /plan -H "X-Trace-ID: test-trace-123"`.
    response = await edge.post(
        "/plan", json={"prompt": "trace me", "session_id": session_id}, headers={"X-Trace-ID": "test-trace-123"}
    )
    assert response.status == 200
    assert (
        response.headers["X-Trace-ID"] == "test-trace-123" and (await response.json())["trace_id"] == "test-trace-123"
    )
    mapped = w3c_trace_id_for("test-trace-123")
    trace = await spans_of_trace(spans, mapped, {"POST /plan", "process chat.in"})
    assert attrs(one(trace, "POST /plan"))[CALLER_TRACE_ATTRIBUTE] == "test-trace-123"


async def test_each_websocket_message_starts_its_own_trace(
    edge: Client, spans: InMemorySpanExporter, session_id: str
) -> None:
    async with edge.ws_connect("/ws/chat/dora") as ws:
        for text in ("first", "second"):
            await ws.send_json({"session_id": session_id, "user_id": "dora", "message": text})
            while (await ws.receive_json(timeout=10))["type"] != "complete_message":
                pass

    def traces() -> set[int]:
        found = {s.context.trace_id for s in spans.get_finished_spans() if s.name == "process chat.in" and s.context}
        return found if len(found) >= 2 else set()

    assert len(await eventually(traces, 10, 0.01, "two chat.in traces")) == 2
    roots = [s for s in spans.get_finished_spans() if s.name == "chat message"]
    assert all(s.parent is None and s.kind == SpanKind.SERVER for s in roots)


async def test_without_the_sdk_the_trace_id_still_travels(edge: Client, session_id: str) -> None:
    given = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await edge.post(
        "/v1/chat", json={"message": "hi", "session_id": session_id}, headers={"X-Trace-ID": given}
    )
    assert response.status == 200 and response.headers["X-Trace-ID"] == given


@pytest.fixture
def sandbox_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="pagi-obs-", dir="/tmp"))
    root.chmod(0o711)  # the sandbox runs as nobody and must reach its workspace
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def tool_worker(bus: Bus, sandbox_dir: Path) -> AsyncIterator[None]:
    """The real tool worker (bubblewrap sandbox) in this test's event loop."""
    worker = await open_tool_worker(bus, ToolSettings.model_validate({"PAGI_DATA_DIR": str(sandbox_dir)}))
    consumers = await start_routes(bus, worker.routes)
    yield
    for consumer in consumers:
        await consumer.stop()
    await worker.close()


async def test_one_trace_through_a_worker_and_back(
    edge: Client, bus: Bus, tool_worker: None, spans: InMemorySpanExporter, session_id: str
) -> None:
    twins = await TwinStore.open(bus)
    await twins.ensure_default()
    await twins.allow_always("orchestrator", "list_files")  # runs without asking, in the same trace
    response = await edge.post("/v1/chat", json={"message": "list files", "session_id": session_id})
    assert response.status == 200, await response.text()
    names = {"POST /v1/chat", "process chat.in", "process tool.run", "process tool.result", "receive chat.out"}
    trace = await spans_of_trace(spans, response.headers["X-Trace-ID"], names)
    by_name = {s.name: s for s in trace}
    chain = ["process chat.in", "process tool.run", "process tool.result", "receive chat.out"]
    for parent, child in itertools.pairwise(chain):
        assert by_name[child].parent.span_id == by_name[parent].context.span_id  # type: ignore[union-attr]
    assert attrs(by_name["process tool.run"])["messaging.consumer.group.name"] == "tool-worker"


def test_caller_trace_ids_map_deterministically_and_refuse_hostile_text() -> None:
    given = caller_trace("test-trace-123")
    assert given.given == "test-trace-123" and given.problem is None
    assert given.trace_id == w3c_trace_id_for("test-trace-123") == caller_trace("test-trace-123").trace_id
    assert given.trace_id is not None and len(given.trace_id) == 32 and given.trace_id.strip("0")
    assert caller_trace("other").trace_id != given.trace_id
    # A W3C trace id stands for itself (any case), as before.
    assert caller_trace("4BF92F3577B34DA6A3CE929D0E0E4736").trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    for hostile, reason in (
        ("x" * 129, "longer than 128"),
        ("a\nb", "use only"),
        ("a b", "use only"),
        ("é", "use only"),
    ):
        refused = caller_trace(hostile)
        assert refused.trace_id is None and refused.given is None
        assert refused.problem is not None and reason in refused.problem and hostile not in refused.problem
    assert caller_trace(None) == caller_trace("") == CallerTrace(None, None)
